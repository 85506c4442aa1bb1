"""`pld eval`: the matched baseline, the PLD prompt and the teacher on a held-out test split.

The baseline and the PLD prompt run on the same student, scoring mode, content-free calibration and
dev-fitted label biases; only the instructions differ, so a gain comes from the instructions.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from distiller.calibration import apply_biases, fit_biases
from distiller.examples import Dataset, Example
from distiller.metrics import evaluate, majority_baseline, random_baseline
from distiller.report import AblationRow, SystemResult
from schemas import PromptVersion
from stream.student import ModelFile
from stream.student.llama_student import LlamaStudent, StudentSettings

MS_PER_S = 1000.0
LOG_FLOOR = 1e-12


@dataclass(frozen=True)
class StudentSetup:
    """Which student runs, and how."""

    model_file: ModelFile
    settings: StudentSettings


@dataclass(frozen=True)
class EvalSplits:
    """Dev (for fitting biases) and test (for reporting)."""

    dev: Sequence[Example]
    test: Sequence[Example]


@dataclass(frozen=True)
class StudentScores:
    """A student's calibrated label distribution for each example, and its speed."""

    log_probs: np.ndarray  # (n, labels)
    latency_ms: float


@dataclass(frozen=True)
class FittedSystem:
    """A student system scored on test with biases fitted on dev."""

    result: SystemResult
    predictions: list[str]


def score(student: LlamaStudent, examples: Sequence[Example], labels: list[str]) -> StudentScores:
    """Classify every example; log-probabilities in `labels` order."""
    started = time.perf_counter()
    results = student.classify([example.text for example in examples])
    seconds = time.perf_counter() - started
    probs = np.array([[result.probabilities[label] for label in labels] for result in results])
    return StudentScores(np.log(np.maximum(probs, LOG_FLOOR)), MS_PER_S * seconds / max(len(examples), 1))


def run_student_system(name: str, setup: StudentSetup, prompt: PromptVersion, splits: EvalSplits) -> FittedSystem:
    """Score dev and test with `prompt`, fit label biases on dev, report test metrics."""
    labels = prompt.label_names
    student = LlamaStudent(setup.model_file, prompt, setup.settings)
    try:
        dev_scores = score(student, splits.dev, labels)
        test_scores = score(student, splits.test, labels)
    finally:
        student.close()
    return fitted_system(name, labels, splits, (dev_scores, test_scores))


def fitted_system(
    name: str, labels: list[str], splits: EvalSplits, scores: tuple[StudentScores, StudentScores]
) -> FittedSystem:
    """Fit biases on the dev scores, apply them to the test scores, and evaluate."""
    dev_scores, test_scores = scores
    test = splits.test
    gold_dev = np.array([labels.index(example.label) for example in splits.dev])
    biases = fit_biases(dev_scores.log_probs, gold_dev)
    predicted, probs = apply_biases(test_scores.log_probs, biases)
    predictions = [labels[i] for i in predicted]
    table = [dict(zip(labels, row.tolist(), strict=True)) for row in probs]
    metrics = evaluate([example.label for example in test], predictions, labels, scores=table)
    note = "dev-fitted biases: " + ", ".join(f"{label} {bias:+.2f}" for label, bias in zip(labels, biases, strict=True))
    return FittedSystem(SystemResult(name, metrics, test_scores.latency_ms, note), predictions)


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


def ablation(setup: StudentSetup, prompt: PromptVersion, splits: EvalSplits, full_macro_f1: float) -> list[AblationRow]:
    """Macro-F1 lost when each instruction is removed (delta = full - without; biases refitted on dev each time)."""
    rows = []
    for instruction in prompt.instructions:
        remaining = [other for other in prompt.instructions if other.id != instruction.id]
        content = prompt.model_dump(exclude={"sha256", "instructions", "version"})
        reduced = PromptVersion.create(
            **content, version=f"{prompt.version}-without-{instruction.id}", instructions=remaining
        )
        system = run_student_system(f"without {instruction.id}", setup, reduced, splits)
        without = system.result.metrics.macro_f1
        rows.append(
            AblationRow(instruction.id, instruction.text, instruction.target_label, without, full_macro_f1 - without)
        )
    return rows
