"""One pass against chain-of-thought: a slice with both kinds of message, both systems scored on it."""

from distiller.examples import Example
from distiller.one_pass_vs_cot import comparison_notes, score_on_slice, teacher_slice

LABELS = ["allow", "review", "block"]


NAMES = {"a": "allow", "r": "review", "b": "block"}


def _split(labels: str) -> list[Example]:
    return [Example(f"ex-{n}", f"text {n}", NAMES[c]) for n, c in enumerate(labels)]


def test_the_slice_takes_harmful_and_benign_in_turn_keeping_the_split_order() -> None:
    test = _split("aaaaaaaaabab")  # the first items nearly all benign
    picked = teacher_slice(test, 4, "allow")
    assert [example.id for example in picked] == ["ex-0", "ex-1", "ex-9", "ex-11"]


def test_when_one_kind_runs_out_the_other_fills_the_slice() -> None:
    test = _split("aaaaab")
    assert [example.label for example in teacher_slice(test, 4, "allow")] == ["allow", "allow", "allow", "block"]
    assert len(teacher_slice(test, 50, "allow")) == len(test)


def test_both_systems_are_scored_on_the_same_items() -> None:
    items = _split("abab")
    one_pass = score_on_slice(
        "one pass", items, ["allow", "block", "block", "block"], LABELS, default_label="allow", ms_per_message=400.0
    )
    cot = score_on_slice(
        "cot", items, ["allow", "review", "allow", "block"], LABELS, default_label="allow", ms_per_message=8000.0
    )
    assert (one_pass.harmful_held, one_pass.benign_allowed) == (1.0, 0.5)
    assert (cot.harmful_held, cot.benign_allowed) == (1.0, 1.0)
    notes = comparison_notes(items, [one_pass, cot], "allow")
    assert notes[0] == "one pass against chain-of-thought on the same 4 test items (2 harmful)"
    assert "harmful held 1.000, benign allowed 0.500, 400 ms per message" in notes[1]
    assert notes[-1] == "the one pass costs 1/20 of chain-of-thought per message"


def test_a_replayed_teacher_has_no_cost_to_compare() -> None:
    items = _split("ab")
    scores = [
        score_on_slice(name, items, ["allow", "block"], LABELS, default_label="allow", ms_per_message=ms)
        for name, ms in (("one pass", 400.0), ("cot", None))
    ]
    notes = comparison_notes(items, scores, "allow")
    assert "not measured" in notes[2]
    assert not any("costs" in note for note in notes)
