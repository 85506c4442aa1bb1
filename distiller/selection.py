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

from distiller.calibration import fit_calibration
from distiller.examples import Example
from distiller.metrics import evaluate
from schemas import PromptVersion, ScoringMode
from stream.student import Classification, LlamaStudent, StudentSettings, build_student

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
    """Dev macro-F1 of a prompt on the one student, after fitting label biases on dev."""

    def __init__(self, student: LlamaStudent, dev: Sequence[Example], dataset_name: str, report: SelectionReport):
        self._last: tuple[PromptVersion, list[Classification]] | None = None
        self._student = student
        self._dev = dev
        self._dataset_name = dataset_name
        self._report = report

    def __call__(self, prompt: PromptVersion) -> float:
        self._student.use_prompt(prompt)
        decisions = self._student.classify([example.text for example in self._dev])
        self._report.trials += 1
        self._last = (prompt, decisions)
        return fit_calibration(decisions, self._dev, prompt, self._student, self._dataset_name).dev_macro_f1

    def noise(self) -> float:
        """Half the width of the bootstrap 95% interval of the last scored prompt's dev macro-F1."""
        if self._last is None:
            return 0.0
        prompt, decisions = self._last
        gold = [example.label for example in self._dev]
        low, high = evaluate(gold, [d.label for d in decisions], prompt.label_names).macro_f1_ci
        return (high - low) / 2


@dataclass(frozen=True)
class RuleDelta:
    """What removing one rule costs on dev: the score without it, and full minus that."""

    instruction_id: str
    text: str
    category: str | None
    score_without: float
    delta: float


@dataclass
class AblationReport:
    """Selection by ablation: the full prompt's score, each rule's delta, what was kept and its score."""

    full_score: float = 0.0
    noise: float = 0.0
    deltas: list[RuleDelta] = field(default_factory=list)
    kept_score: float = 0.0
    dropped: list[str] = field(default_factory=list)


def prune_by_ablation(
    prompt: PromptVersion,
    settings: StudentSettings,
    dev: Sequence[Example],
    dataset_name: str,
    progress: Progress = lambda _line: None,
) -> tuple[PromptVersion, AblationReport]:
    """The prompt without every rule whose removal does not lower the dev score (delta <= 0): one trial per
    rule and one for the result, where backward elimination needs one per rule per round. What is kept has a
    positive ablation delta each, measured against the full prompt; the report has every delta. When the
    pruned prompt scores below the full one (rules that cost nothing alone carried the others), or nothing
    is left, the full prompt is kept and nothing is dropped."""
    report = AblationReport()
    base = prompt.without_calibrations()
    student = build_student(settings, base)
    try:
        score = _Scorer(student, dev, dataset_name, SelectionReport())
        report.full_score = score(base)
        report.noise = score.noise()
        progress(f"ablation: dev macro-F1 {report.full_score:.3f} with {len(base.instructions)} rules")
        for index, instruction in enumerate(base.instructions):
            without = score(_without(base, index))
            delta = RuleDelta(
                instruction.id, instruction.text, instruction.category, without, report.full_score - without
            )
            report.deltas.append(delta)
            progress(
                f"ablation: without {instruction.id} ({instruction.category}) {without:.3f}, delta {delta.delta:+.3f}"
            )
        keep = {delta.instruction_id for delta in report.deltas if delta.delta > 0}
        report.dropped = [ins.id for ins in base.instructions if ins.id not in keep]
        kept = base.variant(base.version, instructions=[ins for ins in base.instructions if ins.id in keep])
        report.kept_score = score(kept) if kept.instructions else report.full_score
        progress(f"ablation: kept {len(kept.instructions)} rules, dev macro-F1 {report.kept_score:.3f}")
    finally:
        student.close()
    if not kept.instructions or report.kept_score < report.full_score:
        # Rules interact: the ones that each cost nothing alone may carry the rest together. Keep them all.
        report.dropped = []
        return base, report
    return kept, report
