"""Scoring: every probability a decision carries lies in [0, 1], whatever the float arithmetic does."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stream.prompts import starter_prompt
from stream.student.scoring import _rule_check, distribution

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(st.lists(unit, min_size=len(starter_prompt().instructions), max_size=len(starter_prompt().instructions)))
def test_rule_check_probabilities_never_leave_the_unit_interval(p_yes: list[float]) -> None:
    """The decision list's sums (which can round to 1.0000000000000002) are clipped and still sum to one."""
    prompt = starter_prompt()
    calibrated = [np.array([p, 1.0 - p]) for p in p_yes]
    classification = _rule_check(prompt, calibrated, None)
    assert all(0.0 <= p <= 1.0 for p in classification.probabilities.values())
    assert abs(sum(classification.probabilities.values()) - 1.0) < 1e-9
    assert all(0.0 <= p <= 1.0 for p in classification.instruction_scores.values())


def test_a_sum_that_rounds_above_one_is_renormalised() -> None:
    """1.0000000000000002 becomes at most 1.0; values already in range are returned untouched."""
    assert distribution({"allow": 1.0000000000000002, "block": 0.0}) == {"allow": 1.0, "block": 0.0}
    in_range = {"allow": 0.3, "block": 0.7000000000000001}
    assert distribution(in_range) == in_range
