"""A cascade in `pld eval --cascade-fast`: its threshold fitted on dev, then the cascade itself decides test.

Fitting: the fast student (with its own dev-fitted calibration) and the strong student decide every dev
message; the threshold is the lowest top-label probability of the fast student at which the mixture
(fast where at least that confident, strong elsewhere) keeps the strong student's dev macro-F1 and its
share of harmful messages held within `CASCADE_TOLERANCE`. Test is then decided by the cascade that
`stream.student.build_served_student` builds from the version carrying that threshold, exactly as a
worker with `PLD_CASCADE_FAST_STUDENT` serves it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from distiller.calibration import examples_digest
from distiller.evaluation import EvalSplits, FittedSystem, calibrated, classify_all
from distiller.metrics import evaluate
from distiller.report import SystemResult
from schemas import CascadeThreshold, PromptVersion
from stream.student import (
    Classification,
    StudentSettings,
    build_served_student,
    build_student,
    confident,
    fast_student_settings,
)

CASCADE_TOLERANCE = 0.01  # what the cascade may lose on dev against the strong student alone


@dataclass(frozen=True)
class CascadeFit:
    """The fitted threshold (None: no confidence keeps the strong student's quality) and what dev showed."""

    confidence: float | None
    fast_share: float
    macro_f1: float
    strong_macro_f1: float


@dataclass(frozen=True)
class CascadeOutcome:
    """A cascade's test result, or why there is none."""

    system: FittedSystem | None
    fit: CascadeFit
    fast_share: float  # share of test messages the fast student decided
    fast_file: str


def held_share(gold: Sequence[str], predicted: Sequence[str], default_label: str) -> float:
    """Share of messages whose gold label is not the default that are not let through as the default."""
    harmful = [p for g, p in zip(gold, predicted, strict=True) if g != default_label]
    return sum(p != default_label for p in harmful) / len(harmful) if harmful else 1.0


def fit_confidence(
    fast: Sequence[Classification],
    strong: Sequence[Classification],
    gold: Sequence[str],
    prompt: PromptVersion,
    *,
    tolerance: float = CASCADE_TOLERANCE,
) -> CascadeFit:
    """The lowest confidence at which the fast student may decide alone without costing dev quality."""
    labels, default_label = prompt.label_names, prompt.default_label
    strong_labels = [s.label for s in strong]
    strong_f1 = evaluate(list(gold), strong_labels, labels).macro_f1
    strong_held = held_share(gold, strong_labels, default_label)
    for candidate in sorted({max(f.probabilities.values()) for f in fast}):
        mixed = [f.label if confident(f, candidate) else s.label for f, s in zip(fast, strong, strict=True)]
        macro_f1 = evaluate(list(gold), mixed, labels).macro_f1
        if macro_f1 >= strong_f1 - tolerance and held_share(gold, mixed, default_label) >= strong_held - tolerance:
            share = sum(confident(f, candidate) for f in fast) / len(fast)
            return CascadeFit(candidate, share, macro_f1, strong_f1)
    return CascadeFit(None, 0.0, strong_f1, strong_f1)


def run_cascade_system(
    name: str, settings: StudentSettings, prompt: PromptVersion, splits: EvalSplits
) -> CascadeOutcome:
    """Fit the cascade of `settings.cascade_fast_student` in front of `prompt`'s (calibrated) strong student on
    dev; decide test with the cascade a worker would serve."""
    fast = build_student(fast_student_settings(settings), prompt)
    try:
        prompt, _note = calibrated(fast, prompt, splits, f"{name}: fast")
        fast_dev, _ = classify_all(fast, splits.dev, f"{name}: fast, dev")
    finally:
        fast.close()
    strong = build_student(settings.model_copy(update={"cascade_fast_student": None}), prompt)
    try:
        strong_dev, _ = classify_all(strong, splits.dev, f"{name}: strong, dev")
    finally:
        strong.close()
    fit = fit_confidence(fast_dev, strong_dev, [e.label for e in splits.dev], prompt)
    fast_file = fast.model_id.file_name
    if fit.confidence is None:
        return CascadeOutcome(None, fit, 0.0, fast_file)
    threshold = CascadeThreshold(
        fast_model_sha256=fast.model_id.sha256,
        fast_model_file=fast_file,
        strong_model_sha256=strong.model_id.sha256,
        scoring_mode=strong.mode,
        confidence=fit.confidence,
        tolerance=CASCADE_TOLERANCE,
        dev_split=f"{splits.dataset}:dev",
        dev_examples=len(splits.dev),
        dev_sha256=examples_digest(splits.dev),
        dev_fast_share=round(fit.fast_share, 4),
        dev_macro_f1=round(fit.macro_f1, 4),
        dev_strong_macro_f1=round(fit.strong_macro_f1, 4),
        fitted_on=datetime.now(UTC).date(),
    )
    prompt = prompt.with_cascade(threshold)
    cascade = build_served_student(settings, prompt)
    try:
        decisions, latency_ms = classify_all(cascade, splits.test, f"{name}: test")
        model_id, mode = cascade.model_id, cascade.mode
    finally:
        cascade.close()
    gold = [example.label for example in splits.test]
    metrics = evaluate(
        gold, [d.label for d in decisions], prompt.label_names, scores=[d.probabilities for d in decisions]
    )
    by_fast = sum(d.decided_by is not None and d.decided_by.sha256 == threshold.fast_model_sha256 for d in decisions)
    share = by_fast / max(len(decisions), 1)
    note = (
        f"{fast_file} decides alone at top-label probability >= {fit.confidence:.3f} (fitted on dev: it decided "
        f"{fit.fast_share:.0%} there, macro-F1 {fit.macro_f1:.3f} against the strong student's "
        f"{fit.strong_macro_f1:.3f}); on test it decided {share:.0%}"
    )
    result = SystemResult(name, metrics, latency_ms, note)
    return CascadeOutcome(FittedSystem(result, prompt, decisions, model_id, mode), fit, share, fast_file)
