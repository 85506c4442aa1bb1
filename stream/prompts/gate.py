"""The promotion gate: a canary becomes production only if its recorded evaluation is not worse.

Both versions carry their held-out evaluations (`PromptVersion.evaluations`, inside their sha256 and
signature). The gate compares like with like: the same dataset, the same examples (split sha256) and
the same model file. The candidate is refused when it carries no evaluation; when its macro-F1 is more
than `margin` below production's; or when a label's recall drops by more than that label's allowance
(`recall_drops`, e.g. block recall may not drop at all). Production without any evaluation leaves
nothing to compare against, and the gate lets the candidate through with a note. `pld prompt promote
--force --why ...` overrides a refusal; the history records that it did, and why.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas import EvaluationRecord, PromptVersion


@dataclass(frozen=True)
class GatePolicy:
    """What a promotion must not make worse (per deployment: the publisher's `PLD_PROMOTION_*` settings)."""

    dataset: str | None = None  # the reference set; None: every dataset both versions were evaluated on
    margin: float = 0.02  # how far the candidate's macro-F1 may fall below production's
    recall_drops: Mapping[str, float] = field(default_factory=dict)  # label -> how far its recall may fall


@dataclass(frozen=True)
class GateVerdict:
    """The gate's answer: what it compared, and what it refuses (empty: the promotion may go ahead)."""

    compared: list[str]
    problems: list[str]

    @property
    def passed(self) -> bool:
        """Whether the candidate may be promoted."""
        return not self.problems


def check_promotion(candidate: PromptVersion, production: PromptVersion, policy: GatePolicy) -> GateVerdict:
    """Compare the candidate's evaluations with production's on the same data and student."""
    wanted = [e for e in candidate.evaluations if policy.dataset in {None, e.dataset}]
    if not wanted:
        where = f" on {policy.dataset}" if policy.dataset else ""
        return GateVerdict(
            [], [f"{candidate.version} carries no evaluation{where}: run `pld eval` and publish its prompt.json"]
        )
    if not production.evaluations:
        return GateVerdict([f"{production.version} carries no evaluation: nothing to compare against"], [])
    compared, problems = [], []
    for new in wanted:
        old = _same_data(new, production.evaluations)
        if old is None:
            continue
        compared.append(
            f"{new.dataset} ({new.examples} test examples, {new.model_file}): macro-F1 {old.macro_f1:.3f} -> "
            f"{new.macro_f1:.3f}"
        )
        problems += _worse(new, old, policy)
    if not compared:
        problems.append(
            f"{candidate.version} and {production.version} were never evaluated on the same data with the same "
            "student: evaluate both with `pld eval` on the reference set"
        )
    return GateVerdict(compared, problems)


def _same_data(new: EvaluationRecord, old: list[EvaluationRecord]) -> EvaluationRecord | None:
    same = [
        e
        for e in old
        if (e.dataset, e.split_sha256, e.model_sha256) == (new.dataset, new.split_sha256, new.model_sha256)
    ]
    return max(same, key=lambda e: e.evaluated_on) if same else None


def _worse(new: EvaluationRecord, old: EvaluationRecord, policy: GatePolicy) -> list[str]:
    problems = []
    if new.macro_f1 < old.macro_f1 - policy.margin:
        problems.append(
            f"macro-F1 on {new.dataset} falls from {old.macro_f1:.3f} to {new.macro_f1:.3f} "
            f"(more than the margin {policy.margin:.3f})"
        )
    for label, allowed in policy.recall_drops.items():
        before, after = old.recall.get(label), new.recall.get(label)
        if before is not None and after is not None and after < before - allowed:
            problems.append(
                f"{label} recall on {new.dataset} falls from {before:.3f} to {after:.3f} (allowed {allowed:.3f})"
            )
    return problems
