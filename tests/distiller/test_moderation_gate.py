"""The moderator's view of a report: per-source hold shares and AUC, and the demo gate."""

from dataclasses import replace

from distiller.examples import Example
from distiller.moderation_gate import categories_named, demo_gate, demo_messages, hold_by_source
from stream.student import Classification
from tests.schemas.helpers import taxonomy_prompt


def decision(label: str, p_allow: float, rules: tuple[str, ...] = ()) -> Classification:
    rest = (1.0 - p_allow) / 2
    return Classification(label, {"allow": p_allow, "review": rest, "block": rest}, list(rules))


def test_hold_by_source_scores_each_source_against_the_other_kind() -> None:
    """A harmful-only source is scored against every benign message; shares are per source, blocked (removed
    unseen) apart from held."""
    examples = [
        Example("a", "x", "block", group="donotanswer|a"),
        Example("b", "y", "block", group="donotanswer|b"),
        Example("c", "z", "allow", group="chatter"),
        Example("d", "w", "allow", group="chatter"),
    ]
    decisions = [decision("block", 0.1), decision("allow", 0.6), decision("allow", 0.9), decision("review", 0.4)]
    rows = hold_by_source(examples, decisions, lambda e: e.group.split("|")[0])
    assert rows["donotanswer"] == {"n": 2, "harmful_held": 0.5, "harmful_blocked": 0.5, "hold_auc": 0.75}
    assert rows["chatter"] == {"n": 2, "benign_allowed": 0.5, "benign_blocked": 0.0, "hold_auc": 0.75}
    assert rows["all"]["hold_auc"] == 0.75


def test_the_demo_gate_counts_per_kind_and_flags_held_messages_without_a_rule() -> None:
    """Benign allowed, abusive and spam held, as k/n; a held message must cite a rule."""
    messages = demo_messages()
    decisions = [
        decision("allow", 0.9) if m["metadata"]["sample_kind"] == "benign" else decision("block", 0.1, ("ins-1",))
        for m in messages
    ]
    decisions[-1] = decision("review", 0.2)
    gate = demo_gate(decisions, lambda _rule: "threat")
    counts = gate.counts()
    assert counts["benign_allowed"] == "12/12"
    assert counts["abusive_held"] == "10/10"
    assert counts["spam_held"] == "8/8"
    assert gate.held_without_rule == 1
    assert gate.categories["abusive"] == {"threat": 10}


def test_categories_named_counts_held_harmful_messages_named_with_their_own_category() -> None:
    """The student's category counts first, else the first cited rule's; allowed and benign messages are
    left out; a version without a taxonomy gives nothing to count."""
    prompt = taxonomy_prompt()
    threat_rule = prompt.instructions[0].id
    examples = [
        Example("a", "x", "block", category="threat"),
        Example("b", "y", "block", category="threat"),
        Example("c", "z", "block", category="spam"),
        Example("d", "w", "allow", category="none"),
    ]
    decisions = [
        replace(decision("block", 0.1), category="threat"),
        decision("block", 0.1, (threat_rule,)),  # no category from the student: the cited rule's
        replace(decision("allow", 0.9), category=None),
        decision("block", 0.1),
    ]
    named = categories_named(examples, decisions, prompt)
    assert named["all"] == {"n": 3, "held": 2, "named": 2}
    assert named["threat"] == {"n": 2, "held": 2, "named": 2}
    assert named["spam"] == {"n": 1, "held": 0, "named": 0}
    assert categories_named(examples, decisions, prompt.variant("plain", categories=[], instructions=[])) == {}
