"""Fitting a cascade's confidence on dev: the lowest at which the mixture keeps the strong student's quality."""

from distiller.cascade import fit_confidence, held_share
from stream.prompts import starter_prompt
from stream.student import Classification

PROMPT = starter_prompt()


def answer(label: str, top: float) -> Classification:
    rest = (1.0 - top) / (len(PROMPT.label_names) - 1)
    return Classification(label=label, probabilities={n: top if n == label else rest for n in PROMPT.label_names})


def test_the_fast_student_keeps_only_what_it_gets_right() -> None:
    gold = ["allow", "allow", "block", "block", "allow", "block"]
    strong = [answer(g, 0.9) for g in gold]  # always right
    # The fast student is right when at least 0.8 sure, wrong below.
    fast = [
        answer("allow", 0.95),
        answer("allow", 0.85),
        answer("block", 0.8),
        answer("allow", 0.7),
        answer("block", 0.6),
        answer("allow", 0.5),
    ]
    fit = fit_confidence(fast, strong, gold, PROMPT)
    assert fit.confidence == 0.8
    assert fit.fast_share == 0.5
    assert fit.macro_f1 == fit.strong_macro_f1  # nothing lost (review never occurs: macro-F1 2/3)


def test_no_confidence_when_even_the_surest_answer_is_wrong() -> None:
    gold = ["block", "allow"]
    strong = [answer("block", 0.9), answer("allow", 0.9)]
    fast = [answer("allow", 0.99), answer("block", 0.6)]
    fit = fit_confidence(fast, strong, gold, PROMPT)
    assert fit.confidence is None
    assert fit.fast_share == 0.0


def test_held_share_counts_harmful_messages_not_let_through() -> None:
    assert held_share(["block", "review", "allow"], ["review", "allow", "block"], "allow") == 0.5
    assert held_share(["allow"], ["allow"], "allow") == 1.0
