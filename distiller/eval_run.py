"""`pld eval`: runs every system on the held-out test split and writes the report and its JSON summary."""

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm  # type: ignore[import-untyped]

from distiller.assembly import baseline_prompt
from distiller.calibration import MACRO_F1
from distiller.cascade import CascadeOutcome, run_cascade_system
from distiller.datasets import load_dataset, sample
from distiller.evaluation import (
    EvalSplits,
    FittedSystem,
    ablation,
    demo_decisions,
    evaluation_record,
    reference_systems,
    run_student_system,
)
from distiller.examples import Dataset, Example, Split
from distiller.metrics import evaluate
from distiller.moderation_contrast import source_function
from distiller.moderation_gate import categories_named, demo_gate, gate_sections, hold_by_source
from distiller.one_pass_vs_cot import comparison_notes, score_on_slice, teacher_slice
from distiller.pipeline import DistillSettings, make_teacher
from distiller.provenance import run_provenance
from distiller.rationales import CollectionStats, SampleSpec, sample_rationale
from distiller.report import AblationRow, SystemResult, summary_json, write_report
from distiller.teacher import Teacher, TeacherKind
from distiller.teacher_cache import TeacherCache
from schemas import PromptVersion
from stream.prompts import load_prompt_file
from stream.student import StudentSettings

BASELINE = "baseline: student, no instructions"
PLD = "PLD: student + distilled instructions"
RULES_ONLY = "PLD parts: rules only (exemplars removed)"
EXEMPLARS_ONLY = "PLD parts: exemplars only (rules not shown)"
TEACHER = "teacher with CoT"
CASCADE = "cascade: fast student where confident, PLD student elsewhere"
MS_PER_S = 1000.0
SERVED_PROMPT_FILE = "prompt.json"
DECISIONS_FILE = "decisions.jsonl"
CASCADE_DECISIONS_FILE = "cascade-decisions.jsonl"


@dataclass(frozen=True)
class EvalSettings:
    """One evaluation run."""

    dataset: str
    prompt: Path
    out_dir: Path
    cache_dir: Path
    student: StudentSettings
    student_name: str
    limit: int = 300
    dev_limit: int = 150
    teacher: TeacherKind | None = TeacherKind.LOCAL
    teacher_limit: int = 40
    with_ablation: bool = True
    calibrate_for: str = MACRO_F1


def run_eval(settings: EvalSettings) -> dict[str, Any]:
    """Evaluate; write `report.md`, plots, `summary.json`, the served prompt version (`prompt.json`, with
    its dev-fitted calibration) and its test decisions (`decisions.jsonl`) into `out_dir`; return the summary.

    With a cascade's fast student in the student settings, the cascade is fitted and evaluated too, and the
    served version also carries the fast student's calibration and the cascade's threshold."""
    strong_settings = settings.student.model_copy(update={"cascade_fast_student": None})
    cascade_settings = settings.student
    settings = replace(settings, student=strong_settings)
    pld_prompt = load_prompt_file(settings.prompt)
    dataset = load_dataset(settings.dataset, settings.cache_dir)
    _check_labels(dataset, pld_prompt)
    # The prompt says what the task is (a user's CSV knows only a generic text): the teacher reads the same.
    dataset = replace(dataset, task=pld_prompt.task, labels=list(pld_prompt.labels))
    splits = EvalSplits(
        dataset=dataset.name,
        dev=sample(dataset.split(Split.DEV), settings.dev_limit),
        test=sample(dataset.split(Split.TEST), settings.limit),
        calibrate_for=settings.calibrate_for,
    )
    baseline = run_student_system(
        BASELINE, settings.student, baseline_prompt(pld_prompt, f"{pld_prompt.version}-baseline"), splits
    )
    pld = run_student_system(PLD, settings.student, pld_prompt, splits)
    # The served version carries what it scored here (a promotion gate compares it); decisions are the same.
    record = evaluation_record(pld, splits, settings.student.decode.value)
    pld = replace(pld, prompt=pld.prompt.with_evaluation(record))
    cascade = None
    if cascade_settings.cascade_fast_student is not None:
        cascade = run_cascade_system(CASCADE, cascade_settings, pld.prompt, splits)
    _write_served(settings.out_dir, pld, splits, cascade)
    sources = hold_by_source(splits.test, pld.decisions, source_function(dataset))
    named = categories_named(splits.test, pld.decisions, pld.prompt)
    gate = demo_gate(demo_decisions(settings.student, pld.prompt), pld.prompt.category_of)
    baseline_gate = demo_gate(demo_decisions(settings.student, baseline.prompt), baseline.prompt.category_of)
    systems = [baseline.result, pld.result]
    notes = _cascade_notes(cascade)
    if cascade is not None and cascade.system is not None:
        systems.append(cascade.system.result)
        cascade_gate = demo_gate(demo_decisions(cascade_settings, cascade.system.prompt), pld.prompt.category_of)
        notes.append(f"demo gate of the cascade: {cascade_gate.counts()}")
    notes += [
        f"student: {settings.student_name}; scoring mode {settings.student.scoring_mode}; "
        f"decoding {settings.student.decode}; built by stream.student.factory as a worker builds it",
        f"the PLD decisions come from prompt version {pld.prompt.version} (sha256 {pld.prompt.sha256[:12]}), "
        f"written to {SERVED_PROMPT_FILE}: serve that file and a worker decides exactly as reported",
    ]
    one_pass_vs_cot: dict[str, Any] = {}
    if settings.teacher is not None:
        teacher_result, one_pass_vs_cot = _teacher_part(settings, dataset, splits, pld)
        systems.append(teacher_result)
        notes += one_pass_vs_cot.pop("notes")
    systems += reference_systems(dataset, dataset.split(Split.TRAIN), splits.test)
    part_systems, parts, rows = (
        _ablation_part(settings, pld_prompt, splits, pld) if settings.with_ablation else ([], {}, [])
    )
    systems += part_systems
    summary = summary_json(systems, BASELINE, PLD, TEACHER if settings.teacher else None, len(splits.test))
    summary |= parts
    if one_pass_vs_cot:
        summary["one_pass_vs_cot"] = one_pass_vs_cot
    overview = _overview(settings, dataset, splits, pld.prompt)
    notes.append(f"demo gate of the baseline (same student): {baseline_gate.counts()}")
    write_report(
        settings.out_dir,
        f"PLD evaluation: {dataset.name}, {settings.student_name}",
        overview,
        systems,
        rows,
        notes,
        sections=gate_sections(sources, gate, named),
    )
    summary |= {"demo": gate.counts(), "demo_baseline": baseline_gate.counts(), "sources": sources} | (
        {"categories_named": named} if named else {}
    )
    if cascade is not None:
        summary |= {"cascade": _cascade_summary(cascade)}
    summary |= {
        "student": settings.student_name,
        "dataset": dataset.name,
        "prompt_version": pld.prompt.version,
        "prompt_sha256": pld.prompt.sha256,
        "provenance": run_provenance(),
    }
    (settings.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _ablation_part(
    settings: EvalSettings, pld_prompt: PromptVersion, splits: EvalSplits, pld: FittedSystem
) -> tuple[list[SystemResult], dict[str, float], list[AblationRow]]:
    """The prompt's parts (rules only, exemplars only) as systems with their macro-F1 for the summary, and the
    per-rule ablation rows."""
    systems, parts = [], {}
    for name, variant in _parts(pld_prompt).items():
        system = run_student_system(name, settings.student, variant, splits).result
        systems.append(system)
        parts[_PART_KEYS[name]] = system.metrics.macro_f1
    return systems, parts, ablation(settings.student, pld_prompt, splits, pld.result.metrics.macro_f1)


_PART_KEYS = {RULES_ONLY: "rules_only_macro_f1", EXEMPLARS_ONLY: "exemplars_only_macro_f1"}


def _parts(prompt: PromptVersion) -> dict[str, PromptVersion]:
    """The prompt's rules without their exemplars, and its exemplars without the rules (when it has both)."""
    base = prompt.without_calibrations()
    if not any(instruction.provenance.exemplars for instruction in base.instructions):
        return {}
    bare = [
        instruction.model_copy(update={"provenance": instruction.provenance.model_copy(update={"exemplars": []})})
        for instruction in base.instructions
    ]
    return {
        RULES_ONLY: base.variant(f"{base.version}-rules-only", instructions=bare),
        EXEMPLARS_ONLY: base.variant(f"{base.version}-exemplars-only", show_rules=False),
    }


def _cascade_notes(cascade: CascadeOutcome | None) -> list[str]:
    if cascade is None:
        return []
    if cascade.system is None:
        return [
            f"cascade: no confidence of {cascade.fast_file} keeps the PLD student's dev macro-F1 "
            f"({cascade.fit.strong_macro_f1:.3f}) and share held: no cascade fitted; the strong student decides alone"
        ]
    return [f"cascade: {cascade.system.result.note}; its test decisions are in {CASCADE_DECISIONS_FILE}"]


def _cascade_summary(cascade: CascadeOutcome) -> dict[str, Any]:
    fitted = cascade.system is not None
    return {
        "fast_student": cascade.fast_file,
        "confidence": cascade.fit.confidence,
        "dev_fast_share": round(cascade.fit.fast_share, 4),
        "dev_macro_f1": round(cascade.fit.macro_f1, 4),
        "dev_strong_macro_f1": round(cascade.fit.strong_macro_f1, 4),
        "test_fast_share": round(cascade.fast_share, 4),
        "test_macro_f1": round(cascade.system.result.metrics.macro_f1, 4) if cascade.system else None,
        "test_ms_per_message": round(cascade.system.result.latency_ms_per_message or 0.0, 1)
        if cascade.system
        else None,
        "fitted": fitted,
    }


def _write_served(out_dir: Path, system: FittedSystem, splits: EvalSplits, cascade: CascadeOutcome | None) -> None:
    """The calibrated PLD version (with the cascade's threshold when one was fitted) and one line per test
    decision, for serving and for audit."""
    served = system.prompt if cascade is None or cascade.system is None else cascade.system.prompt
    (out_dir / SERVED_PROMPT_FILE).write_text(json.dumps(served.model_dump(mode="json"), indent=2) + "\n")
    (out_dir / DECISIONS_FILE).write_text(_decision_lines(system, splits))
    if cascade is not None and cascade.system is not None:
        (out_dir / CASCADE_DECISIONS_FILE).write_text(_decision_lines(cascade.system, splits))


def _decision_lines(system: FittedSystem, splits: EvalSplits) -> str:
    lines = [
        json.dumps(
            {
                "example_id": example.id,
                "text": example.text,
                "gold": example.label,
                "label": decision.label,
                "probabilities": decision.probabilities,
                "instruction_ids": decision.instruction_ids,
                "category": decision.category,
                "instruction_scores": decision.instruction_scores,
                "truncated": decision.truncated,
                "decided_by": None if decision.decided_by is None else decision.decided_by.file_name,
            }
        )
        for example, decision in zip(splits.test, system.decisions, strict=True)
    ]
    return "".join(line + "\n" for line in lines)


def _check_labels(dataset: Dataset, prompt: PromptVersion) -> None:
    if sorted(prompt.label_names) != sorted(dataset.label_names):
        raise ValueError(f"prompt labels {prompt.label_names} differ from the dataset's {dataset.label_names}")


def _teacher_part(
    settings: EvalSettings, dataset: Dataset, splits: EvalSplits, pld: FittedSystem
) -> tuple[SystemResult, dict[str, Any]]:
    """The teacher with CoT on a slice of test, and the PLD student's test decisions scored beside it on the
    same items: the teacher's system, and the comparison's figures for the summary (report lines under
    `notes`, teacher notes included)."""
    items = teacher_slice(splits.test, settings.teacher_limit, dataset.default_label)
    teacher_result, teacher_predicted, teacher_notes = _teacher_system(settings, dataset, items)
    decided = {example.id: decision.label for example, decision in zip(splits.test, pld.decisions, strict=True)}
    labels, default = dataset.label_names, dataset.default_label
    scores = [
        score_on_slice(
            "PLD student, one pass", items, [decided[example.id] for example in items], labels,
            default_label=default, ms_per_message=pld.result.latency_ms_per_message,
        ),
        score_on_slice(
            "teacher, chain-of-thought", items, teacher_predicted, labels,
            default_label=default, ms_per_message=teacher_result.latency_ms_per_message,
        ),
    ]  # fmt: skip
    comparison = {"items": len(items), "scores": [asdict(score) for score in scores]}
    return teacher_result, comparison | {"notes": teacher_notes + comparison_notes(items, scores, default)}


def _teacher_system(
    settings: EvalSettings, dataset: Dataset, test: list[Example]
) -> tuple[SystemResult, list[str], list[str]]:
    """The teacher answering with CoT, greedy, on `test` (a slice of the test split; cached), and its labels."""
    # Beside the prompt, so every student's evaluation reuses the teacher's (slow) test answers; the
    # distiller never reads this file: it only asks about training examples.
    cache = TeacherCache(settings.prompt.with_suffix(".teacher-eval.jsonl"))
    assert settings.teacher is not None
    distill = DistillSettings(
        dataset=settings.dataset, out=settings.prompt, version="", cache_dir=settings.cache_dir,
        student=settings.student, teacher=settings.teacher,
    )  # fmt: skip
    teacher: Teacher = make_teacher(distill, cache)
    stats = CollectionStats()
    replies = [
        sample_rationale(teacher, dataset, ex, cache, SampleSpec.nth(0, 0.0), stats=stats)
        for ex in tqdm(test, desc="teacher: test", unit="example", file=sys.stderr)
    ]
    seconds = time.perf_counter() - stats.started
    # Replies read back from the recorded cache say nothing about the teacher's speed.
    latency = MS_PER_S * seconds / stats.teacher_calls if stats.teacher_calls == len(test) and test else None
    unparsed = sum(reply.predicted is None for reply in replies)
    predicted = [reply.predicted or dataset.default_label for reply in replies]
    metrics = evaluate([ex.label for ex in test], predicted, dataset.label_names)
    note = f"{teacher.id}, greedy CoT on {len(test)} test examples (harmful and benign in turn)"
    note += f"; {unparsed} unparsed -> default label"
    if latency is None:
        note += f"; {stats.cache_hits} answers from the recorded cache, so no latency"
    result = SystemResult(TEACHER, metrics, latency, note)
    return result, predicted, [f"teacher evaluated on {len(test)} of the test examples (slow on CPU); gap_closed "
                               "compares macro-F1 measured on different sample sizes"]  # fmt: skip


def _overview(settings: EvalSettings, dataset: Dataset, splits: EvalSplits, prompt: PromptVersion) -> dict[str, object]:
    return {
        "dataset": dataset.name,
        "labels": ", ".join(dataset.label_names),
        "test examples (deterministic sample)": len(splits.test),
        "dev examples (bias fitting only)": len(splits.dev),
        "student": settings.student_name,
        "prompt": f"{prompt.version} ({len(prompt.instructions)} instructions, sha256 {prompt.sha256[:12]})",
        **run_provenance(),
    }
