"""`pld eval`: the matched baseline, the PLD prompt and the teacher on a held-out test split.

The baseline and the PLD prompt run on the same student (built by `stream.student.factory`, as a
worker builds it), scoring mode, content-free calibration and dev-fitted label biases; only the
instructions differ, so a gain comes from the instructions. The biases are written into the prompt
version the test decisions come from, so the report describes the exact version a worker serves.
"""

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tqdm import tqdm  # type: ignore[import-untyped]

from distiller.calibration import MACRO_F1, examples_digest, fit_calibration
from distiller.examples import Dataset, Example
from distiller.metrics import evaluate, majority_baseline, random_baseline
from distiller.moderation_gate import demo_messages
from distiller.report import AblationRow, SystemResult
from schemas import EvaluationRecord, ModelId, PromptVersion, ScoringMode
from stream.student import (
    Classification,
    LlamaStudent,
    StudentModel,
    StudentSettings,
    build_served_student,
    build_student,
)

MS_PER_S = 1000.0
PROGRESS_CHUNK = 16  # messages per student call, so progress shows while a split is scored


@dataclass(frozen=True)
class EvalSplits:
    """Dev (for fitting biases) and test (for reporting)."""

    dataset: str
    dev: Sequence[Example]
    test: Sequence[Example]
    calibrate_for: str = MACRO_F1  # the dev objective label biases are fitted for (distiller.calibration)


@dataclass(frozen=True)
class FittedSystem:
    """A student system scored on test by the calibrated prompt version it would be served with."""

    result: SystemResult
    prompt: PromptVersion
    decisions: list[Classification]
    model_id: ModelId
    mode: ScoringMode


def classify_all(
    student: StudentModel, examples: Sequence[Example], what: str = "student"
) -> tuple[list[Classification], float]:
    """The student's decisions on every example (progress on stderr), and the mean latency per example in ms.

    Decoding is isolated per message by default, so chunking the calls changes no decision."""
    started = time.perf_counter()
    decisions: list[Classification] = []
    with tqdm(total=len(examples), desc=what, unit="msg", file=sys.stderr, leave=False) as bar:
        for start in range(0, len(examples), PROGRESS_CHUNK):
            chunk = examples[start : start + PROGRESS_CHUNK]
            decisions += student.classify([example.text for example in chunk])
            bar.update(len(chunk))
    return decisions, MS_PER_S * (time.perf_counter() - started) / max(len(examples), 1)


def run_student_system(name: str, settings: StudentSettings, prompt: PromptVersion, splits: EvalSplits) -> FittedSystem:
    """Calibrate `prompt` on dev (unless it carries a calibration for this student), then decide test."""
    student = build_student(settings, prompt)
    try:
        served, note = calibrated(student, prompt, splits, name)
        decisions, latency_ms = classify_all(student, splits.test, f"{name}: test")
    finally:
        student.close()
    labels = prompt.label_names
    gold = [example.label for example in splits.test]
    table = [decision.probabilities for decision in decisions]
    metrics = evaluate(gold, [decision.label for decision in decisions], labels, scores=table)
    return FittedSystem(
        SystemResult(name, metrics, latency_ms, note), served, decisions, student.model_id, student.mode
    )


def evaluation_record(system: FittedSystem, splits: EvalSplits, decode: str) -> EvaluationRecord:
    """What `system` scored on the test split, as the version it was served with will carry it."""
    metrics = system.result.metrics
    low, high = metrics.macro_f1_ci
    return EvaluationRecord(
        dataset=splits.dataset,
        split="test",
        split_sha256=examples_digest(splits.test),
        examples=len(splits.test),
        model_sha256=system.model_id.sha256,
        model_file=system.model_id.file_name,
        scoring_mode=system.mode,
        decode=decode,
        macro_f1=round(metrics.macro_f1, 4),
        macro_f1_ci=(round(low, 4), round(high, 4)),
        recall={label: round(c.recall, 4) for label, c in metrics.per_class.items()},
        recall_ci={label: wilson_interval(c.recall, c.support) for label, c in metrics.per_class.items()},
        evaluated_on=datetime.now(UTC).date(),
    )


def wilson_interval(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion `share` of `n` (0..1 when n is 0)."""
    if n == 0:
        return (0.0, 1.0)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def demo_decisions(settings: StudentSettings, prompt: PromptVersion) -> list[Classification]:
    """The served student's decisions on the demo's messages (the demo gate), with `prompt` as it is (a cascade
    when `settings` names a fast student and the version carries its threshold)."""
    student = build_served_student(settings, prompt)
    try:
        return student.classify([message["text"] for message in demo_messages()])
    finally:
        student.close()


def calibrated(
    student: LlamaStudent, prompt: PromptVersion, splits: EvalSplits, name: str
) -> tuple[PromptVersion, str]:
    """The version to decide test with, switched into the student, and a note on where its biases came from."""
    carried = prompt.calibration_for(student.model_id.sha256, student.mode)
    if carried is None:
        dev_decisions, _ = classify_all(student, splits.dev, f"{name}: dev")
        carried = fit_calibration(
            dev_decisions, splits.dev, prompt, student, splits.dataset, objective=splits.calibrate_for
        )
        prompt = prompt.with_calibration(carried)
        student.use_prompt(prompt)
        origin = "dev-fitted biases" + ("" if splits.calibrate_for == MACRO_F1 else f" ({splits.calibrate_for})")
    else:
        origin = f"biases carried by the prompt ({carried.dev_split}, {carried.fitted_on})"
    biases = ", ".join(f"{label} {bias:+.2f}" for label, bias in carried.label_biases.items())
    certain = carried.certain_action
    if certain is not None:
        biases += (
            f"; {certain.label} only where P({prompt.default_label}) <= {certain.max_default_probability:.3f}, "
            f"else {certain.otherwise} (dev precision {certain.dev_precision:.2f})"
        )
    return prompt, f"{origin}: {biases}"


def reference_systems(dataset: Dataset, train: Sequence[Example], test: Sequence[Example]) -> list[SystemResult]:
    """Majority-class and random references."""
    labels = dataset.label_names
    gold = [example.label for example in test]
    majority = majority_baseline([example.label for example in train], len(test))
    random = random_baseline(labels, len(test), seed=0)
    return [
        SystemResult("majority class", evaluate(gold, majority, labels), None, "most frequent train label"),
        SystemResult("random", evaluate(gold, random, labels), None, "uniform over labels, seed 0"),
    ]


def ablation(
    settings: StudentSettings, prompt: PromptVersion, splits: EvalSplits, full_macro_f1: float
) -> list[AblationRow]:
    """Macro-F1 lost when each instruction is removed (delta = full - without; biases refitted on dev each time)."""
    rows = []
    base = prompt.without_calibrations()
    for instruction in tqdm(base.instructions, desc="ablation", unit="rule", file=sys.stderr):
        remaining = [other for other in base.instructions if other.id != instruction.id]
        content = base.model_dump(exclude={"sha256", "instructions", "version", "calibrations"})
        reduced = PromptVersion.create(
            **content, version=f"{base.version}-without-{instruction.id}", instructions=remaining
        )
        system = run_student_system(f"without {instruction.id}", settings, reduced, splits)
        without = system.result.metrics.macro_f1
        rows.append(
            AblationRow(instruction.id, instruction.text, instruction.target_label, without, full_macro_f1 - without)
        )
    return rows
