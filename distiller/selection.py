"""Instruction selection on the dev split, for the student that will serve the prompt.

Backward elimination: score the prompt on dev (the student's calibrated macro-F1 after fitting the
label biases on the same examples, as `pld eval` does), then drop the instruction whose removal
raises that score most, while it rises by more than the dev score's own noise (the half-width of its
bootstrap 95% interval, at least `MIN_GAIN`: a smaller "gain" is a coin toss); finally try the same prompt with only
its exemplars shown (`show_rules=False`) and keep whichever scores higher; last, the scoring mode
(single-pass label tokens or one yes/no question per rule) is chosen the same way and recorded in
the version. One student serves every trial (`use_prompt` swaps the prefix); the test split is never
read.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from distiller.calibration import HOLD_AUC, MACRO_F1, fit_calibration, log_probabilities
from distiller.examples import Example
from distiller.metrics import binary_auc, binary_auc_ci, evaluate
from schemas import LabelCalibration, PromptVersion, ScoringMode
from stream.student import Classification, LlamaStudent, StudentSettings, apply_label_biases, build_student

MIN_GAIN = 0.005
DEFAULT_MAX_DROPS = 6
Progress = Callable[[str], None]


@dataclass
class SelectionReport:
    """What selection tried and kept."""

    start_score: float = 0.0
    final_score: float = 0.0
    dropped: list[str] = field(default_factory=list)
    trials: int = 0
    notes: list[str] = field(default_factory=list)


def select_on_dev(
    prompt: PromptVersion,
    settings: StudentSettings,
    dev: Sequence[Example],
    dataset_name: str,
    progress: Progress = lambda _line: None,
) -> tuple[PromptVersion, SelectionReport]:
    """The prompt with the instructions (and layout) that score best on `dev` for this student."""
    report = SelectionReport()
    student = build_student(settings, prompt.without_calibrations())
    try:
        score = _Scorer(student, dev, dataset_name, report)
        current, best = prompt.without_calibrations(), score(prompt.without_calibrations())
        report.start_score = best
        min_gain = max(MIN_GAIN, score.noise())
        report.notes.append(f"minimum gain {min_gain:.3f} (the dev macro-F1's bootstrap half-width, n={len(dev)})")
        progress(f"selection: dev macro-F1 {best:.3f} with {len(current.instructions)} instructions")
        for _ in range(DEFAULT_MAX_DROPS):
            if len(current.instructions) <= 1:
                break
            trials = [
                (_without(current, index), current.instructions[index].id) for index in range(len(current.instructions))
            ]
            scored = [(score(variant), variant, dropped) for variant, dropped in trials]
            gain, variant, dropped = max(scored, key=lambda item: item[0])
            if gain < best + min_gain:
                break
            current, best = variant, gain
            report.dropped.append(dropped)
            progress(f"selection: dropping {dropped} raises dev macro-F1 to {best:.3f}")
        if any(ins.provenance.exemplars for ins in current.instructions):
            exemplars_only = current.variant(current.version, show_rules=False)
            exemplars_score = score(exemplars_only)
            report.notes.append(f"exemplars only scored {exemplars_score:.3f} against {best:.3f} with the rules shown")
            if exemplars_score >= best + min_gain:
                current, best = exemplars_only, exemplars_score
        current, best = _choose_mode(current, best, score, report, settings.scoring_mode, min_gain=min_gain)
    finally:
        student.close()
    report.final_score = best
    return current.variant(prompt.version.split(".cal-")[0]), report


def _choose_mode(
    prompt: PromptVersion,
    best: float,
    score: Callable[[PromptVersion], float],
    report: SelectionReport,
    current: ScoringMode,
    *,
    min_gain: float,
) -> tuple[PromptVersion, float]:
    """The prompt with the scoring mode that scores best on dev written into it (`best` is `current`'s)."""
    chosen = prompt.variant(prompt.version, scoring_mode=current)
    if prompt.show_rules and prompt.instructions:
        other_mode = ScoringMode.RULE_CHECK if current is ScoringMode.SINGLE_PASS else ScoringMode.SINGLE_PASS
        other = prompt.variant(prompt.version, scoring_mode=other_mode)
        other_score = score(other)
        report.notes.append(f"{other_mode} mode scored {other_score:.3f} against {best:.3f} in {current}")
        if other_score >= best + min_gain:
            return other, other_score
    return chosen, best


def _without(prompt: PromptVersion, index: int) -> PromptVersion:
    remaining = [ins for position, ins in enumerate(prompt.instructions) if position != index]
    return prompt.variant(prompt.version, instructions=remaining)


class _Scorer:
    """Dev macro-F1 of a prompt on the one student, after fitting label biases on dev; the same trial's hold
    AUC on request."""

    def __init__(self, student: LlamaStudent, dev: Sequence[Example], dataset_name: str, report: SelectionReport):
        self._last: tuple[PromptVersion, list[Classification], LabelCalibration] | None = None
        self._student = student
        self._dev = dev
        self._dataset_name = dataset_name
        self._report = report

    def __call__(self, prompt: PromptVersion) -> float:
        self._student.use_prompt(prompt)
        decisions = self._student.classify([example.text for example in self._dev])
        self._report.trials += 1
        calibration = fit_calibration(decisions, self._dev, prompt, self._student, self._dataset_name)
        self._last = (prompt, decisions, calibration)
        return calibration.dev_macro_f1

    def noise(self) -> float:
        """Half the width of the bootstrap 95% interval of the last scored prompt's dev macro-F1."""
        if self._last is None:
            return 0.0
        prompt, decisions, _ = self._last
        gold = [example.label for example in self._dev]
        low, high = evaluate(gold, [d.label for d in decisions], prompt.label_names).macro_f1_ci
        return (high - low) / 2

    def hold_auc(self) -> float | None:
        """The last trial's ROC AUC of calibrated P(held) = 1 - P(default) against the harmful dev examples."""
        harmful, held = self._held_scores()
        return binary_auc(list(harmful), list(held))

    def hold_auc_noise(self) -> float:
        """Half the width of the bootstrap 95% interval of the last trial's hold AUC."""
        harmful, held = self._held_scores()
        interval = binary_auc_ci(list(harmful), list(held))
        return 0.0 if interval is None else (interval[1] - interval[0]) / 2

    def _held_scores(self) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        if self._last is None:
            return np.zeros(0, dtype=bool), np.zeros(0)
        prompt, decisions, calibration = self._last
        labels = prompt.label_names
        biases = np.array([calibration.label_biases[label] for label in labels])
        calibrated = apply_label_biases(np.exp(log_probabilities(decisions, labels)), biases)
        default = labels.index(prompt.default_label)
        harmful = np.array([example.label != prompt.default_label for example in self._dev], dtype=bool)
        return harmful, 1.0 - calibrated[:, default]


@dataclass(frozen=True)
class RuleDelta:
    """What removing one rule costs on dev: the macro-F1 and hold AUC without it, and full minus each."""

    instruction_id: str
    text: str
    category: str | None
    score_without: float
    delta: float
    hold_auc_without: float | None = None
    hold_auc_delta: float | None = None

    def gain(self, objective: str) -> float:
        """The delta that `objective` (one of `distiller.calibration.ABLATION_OBJECTIVES`) keeps a rule by."""
        if objective == HOLD_AUC:
            return self.hold_auc_delta if self.hold_auc_delta is not None else 0.0
        return self.delta


@dataclass
class AblationReport:
    """Selection by ablation: the full prompt's scores (macro-F1 and hold AUC, each with its bootstrap
    half-width), each rule's deltas, the objective that chose what is kept, and the kept prompt's scores."""

    objective: str = MACRO_F1
    full_score: float = 0.0
    noise: float = 0.0
    full_hold_auc: float | None = None
    hold_auc_noise: float = 0.0
    deltas: list[RuleDelta] = field(default_factory=list)
    kept_score: float = 0.0
    kept_hold_auc: float | None = None
    dropped: list[str] = field(default_factory=list)


def prune_by_ablation(
    prompt: PromptVersion,
    settings: StudentSettings,
    dev: Sequence[Example],
    dataset_name: str,
    progress: Progress = lambda _line: None,
    *,
    objective: str = MACRO_F1,
) -> tuple[PromptVersion, AblationReport]:
    """The prompt without every rule whose removal does not lower the dev score (delta <= 0): one trial per
    rule and one for the result, where backward elimination needs one per rule per round. What is kept has a
    positive ablation delta each in `objective` (macro-F1, or the hold AUC that moderation's targets rank
    by), measured against the full prompt; the report has both deltas of every rule. When the pruned prompt
    scores below the full one in `objective` (rules that cost nothing alone carried the others), or nothing
    is left, the full prompt is kept and nothing is dropped."""
    report = AblationReport(objective=objective)
    base = prompt.without_calibrations()
    student = build_student(settings, base)
    try:
        score = _Scorer(student, dev, dataset_name, SelectionReport())
        report.full_score = score(base)
        report.noise = score.noise()
        report.full_hold_auc = score.hold_auc()
        report.hold_auc_noise = score.hold_auc_noise()
        progress(
            f"ablation: dev macro-F1 {report.full_score:.3f} (+-{report.noise:.3f}), hold AUC "
            f"{_shown(report.full_hold_auc)} (+-{report.hold_auc_noise:.3f}) with {len(base.instructions)} rules"
        )
        for index, instruction in enumerate(base.instructions):
            without = score(_without(base, index))
            auc_without = score.hold_auc()
            delta = RuleDelta(
                instruction.id,
                instruction.text,
                instruction.category,
                without,
                report.full_score - without,
                auc_without,
                _difference(report.full_hold_auc, auc_without),
            )
            report.deltas.append(delta)
            progress(
                f"ablation: without {instruction.id} ({instruction.category}) macro-F1 {without:.3f}, delta "
                f"{delta.delta:+.3f}; hold AUC {_shown(auc_without)}, delta {_shown(delta.hold_auc_delta, sign=True)}"
            )
        keep = {delta.instruction_id for delta in report.deltas if delta.gain(objective) > 0}
        report.dropped = [ins.id for ins in base.instructions if ins.id not in keep]
        kept = base.variant(base.version, instructions=[ins for ins in base.instructions if ins.id in keep])
        if kept.instructions:
            report.kept_score, report.kept_hold_auc = score(kept), score.hold_auc()
        else:
            report.kept_score, report.kept_hold_auc = report.full_score, report.full_hold_auc
        progress(
            f"ablation: kept {len(kept.instructions)} rules by {objective}, dev macro-F1 {report.kept_score:.3f}, "
            f"hold AUC {_shown(report.kept_hold_auc)}"
        )
    finally:
        student.close()
    if not kept.instructions or _objective_score(report, objective, kept=True) < _objective_score(
        report, objective, kept=False
    ):
        # Rules interact: the ones that each cost nothing alone may carry the rest together. Keep them all.
        report.dropped = []
        return base, report
    return kept, report


def _objective_score(report: AblationReport, objective: str, *, kept: bool) -> float:
    if objective == HOLD_AUC:
        value = report.kept_hold_auc if kept else report.full_hold_auc
        return value if value is not None else 0.0
    return report.kept_score if kept else report.full_score


def _difference(full: float | None, without: float | None) -> float | None:
    return None if full is None or without is None else full - without


def _shown(value: float | None, *, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if sign else f"{value:.3f}"
