"""Assembly: stable ids, provenance, priority order and the token budget."""

from distiller.abstraction import Candidate
from distiller.assembly import assemble, baseline_prompt
from schemas import PromptVersion
from tests.distiller.test_abstraction import DATASET, pattern


def candidates() -> list[Candidate]:
    return [
        Candidate(
            "If the sentence is off topic, label it unrelated.",
            "unrelated",
            pattern("x", "unrelated", ["a", "b"], 0.6),
            "teacher",
        ),
        Candidate(
            "If the sentence generalises, label it stereotype.",
            "stereotype",
            pattern("y", "stereotype", ["c", "d", "e"]),
            "fallback",
        ),
    ]


def words(prompt: PromptVersion) -> int:
    return sum(len(instruction.text.split()) for instruction in prompt.instructions) + len(prompt.task.split())


def test_ids_are_stable_and_provenance_is_filled() -> None:
    """The same candidates give the same ids and sha256 on every run, with their evidence attached."""
    first, _ = assemble(DATASET, candidates(), "v1", "teacher-x", count_tokens=words, budget_tokens=1000)
    second, _ = assemble(
        DATASET, list(reversed(candidates())), "v1", "teacher-x", count_tokens=words, budget_tokens=1000
    )
    assert first.sha256 == second.sha256
    assert [i.target_label for i in first.instructions] == ["stereotype", "unrelated"]  # purest first
    provenance = first.instructions[0].provenance
    assert (provenance.source, provenance.teacher, provenance.support) == ("distilled", "teacher-x", 3)
    assert provenance.supporting_example_ids == ["c", "d", "e"]


def test_budget_drops_the_weakest_rule() -> None:
    """Over the budget, the lowest-scored rule goes first and the drop is noted."""
    budget = words(baseline_prompt(DATASET, "b")) + 8
    prompt, notes = assemble(DATASET, candidates(), "v1", None, count_tokens=words, budget_tokens=budget)
    assert [i.target_label for i in prompt.instructions] == ["stereotype"]
    assert "budget" in notes[0]


def test_baseline_has_no_instructions() -> None:
    """The matched baseline keeps the task and labels and has no instructions."""
    baseline = baseline_prompt(DATASET, "base")
    assert (baseline.instructions, baseline.label_names) == ([], ["stereotype", "unrelated"])
