"""Selection by ablation on the real student: one trial per rule; what is kept is what costs when removed."""

import pytest

from distiller.examples import Example
from distiller.selection import prune_by_ablation
from pld.traffic import sample_messages
from stream.prompts import starter_prompt
from tests.conftest import StudentSettingsFactory

pytestmark = pytest.mark.model
KIND_LABELS = {"benign": "allow", "abusive": "block", "spam": "block", "borderline": "review"}


def test_pruning_keeps_exactly_the_rules_whose_removal_lowers_the_dev_score(
    student_settings: StudentSettingsFactory,
) -> None:
    """Every rule gets a delta (full minus without); the kept ones are those with a positive delta, in order,
    unless that set scores below the full prompt."""
    dev = [Example(m["id"], m["text"], KIND_LABELS[m["metadata"]["sample_kind"]]) for m in sample_messages()[::2]]
    prompt = starter_prompt().variant("starter-3", instructions=starter_prompt().instructions[:3])
    pruned, report = prune_by_ablation(prompt, student_settings(), dev, "demo")
    assert [d.instruction_id for d in report.deltas] == [ins.id for ins in prompt.instructions]
    assert all(d.delta == pytest.approx(report.full_score - d.score_without) for d in report.deltas)
    positive = [d.instruction_id for d in report.deltas if d.delta > 0]
    if positive and report.kept_score >= report.full_score:
        assert [ins.id for ins in pruned.instructions] == positive
        assert report.dropped == [ins.id for ins in prompt.instructions if ins.id not in positive]
    else:  # nothing had a positive delta, or the pruned set scored worse: the full prompt stays
        assert [ins.id for ins in pruned.instructions] == [ins.id for ins in prompt.instructions]
        assert report.dropped == []
