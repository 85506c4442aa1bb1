"""Selection by ablation on the real student: one trial per rule; what is kept is what costs when removed."""

import pytest

from distiller.calibration import ABLATION_OBJECTIVES, HOLD_AUC
from distiller.examples import Example
from distiller.selection import prune_by_ablation
from pld.traffic import sample_messages
from stream.prompts import starter_prompt
from tests.conftest import StudentSettingsFactory

pytestmark = pytest.mark.model
KIND_LABELS = {"benign": "allow", "abusive": "block", "spam": "block", "borderline": "review"}


@pytest.mark.parametrize("objective", ABLATION_OBJECTIVES)
def test_pruning_keeps_exactly_the_rules_whose_removal_lowers_the_objective(
    student_settings: StudentSettingsFactory, objective: str
) -> None:
    """Every rule gets both deltas (full minus without: macro-F1 and hold AUC); the kept ones are those with a
    positive delta in the objective, in order, unless that set scores below the full prompt in it."""
    dev = [Example(m["id"], m["text"], KIND_LABELS[m["metadata"]["sample_kind"]]) for m in sample_messages()[::2]]
    prompt = starter_prompt().variant("starter-3", instructions=starter_prompt().instructions[:3])
    pruned, report = prune_by_ablation(prompt, student_settings(), dev, "demo", objective=objective)
    assert report.objective == objective
    assert [d.instruction_id for d in report.deltas] == [ins.id for ins in prompt.instructions]
    assert all(d.delta == pytest.approx(report.full_score - d.score_without) for d in report.deltas)
    assert report.full_hold_auc is not None
    assert 0.0 <= report.full_hold_auc <= 1.0
    assert report.hold_auc_noise > 0.0  # 20 messages: the bootstrap interval has a width
    for delta in report.deltas:
        assert delta.hold_auc_without is not None
        assert delta.hold_auc_delta is not None
        assert delta.hold_auc_delta == pytest.approx(report.full_hold_auc - delta.hold_auc_without)
    gains = {d.instruction_id: (d.hold_auc_delta if objective == HOLD_AUC else d.delta) for d in report.deltas}
    positive = [rule for rule, gain in gains.items() if gain is not None and gain > 0]
    if objective == HOLD_AUC:
        full, kept = report.full_hold_auc, report.kept_hold_auc
    else:
        full, kept = report.full_score, report.kept_score
    if positive and kept is not None and kept >= full:
        assert [ins.id for ins in pruned.instructions] == positive
        assert report.dropped == [ins.id for ins in prompt.instructions if ins.id not in positive]
    else:  # nothing had a positive delta, or the pruned set scored worse: the full prompt stays
        assert [ins.id for ins in pruned.instructions] == [ins.id for ins in prompt.instructions]
        assert report.dropped == []
