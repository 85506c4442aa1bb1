"""`pld prompt diff`: what changed between two versions, including what changes decisions silently."""

from pld.prompt_commands import diff_versions
from schemas import Exemplar
from stream.prompts import default_prompt


def test_a_new_order_and_new_exemplars_are_reported() -> None:
    """Swapping two rules or an exemplar changes decisions, so the diff says so though no text changed."""
    old = default_prompt().without_calibrations()
    swapped = old.variant("swapped", instructions=list(reversed(old.instructions)))
    first = old.instructions[0]
    exemplar = Exemplar(example_id="x", text="another example", label=first.target_label)
    changed = first.model_copy(update={"provenance": first.provenance.model_copy(update={"exemplars": [exemplar]})})
    reexemplified = old.variant("exemplars", instructions=[changed, *old.instructions[1:]])
    order = diff_versions(old, swapped)
    assert order["reordered"] is True
    assert order["added"] == order["removed"] == order["exemplars_changed"] == []
    exemplars = diff_versions(old, reexemplified)
    assert exemplars["reordered"] is False
    assert exemplars["exemplars_changed"] == [first.id]
    assert diff_versions(old, old)["reordered"] is False
