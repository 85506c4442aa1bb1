"""The student a fresh worker serves moderates the demo's messages as the README says (the demo gate)."""

import pytest

from distiller.evaluation import demo_decisions
from distiller.moderation_gate import demo_gate
from stream.prompts import default_prompt
from stream.student import DEFAULT_STUDENT
from tests.conftest import StudentSettingsFactory

pytestmark = pytest.mark.model


def test_the_default_student_holds_abuse_and_spam_and_allows_the_benign(
    student_settings: StudentSettingsFactory,
) -> None:
    """On the shipped policy: every abusive and spam message held, at least 11 of 12 benign ones allowed."""
    prompt = default_prompt()
    decisions = demo_decisions(student_settings(student=DEFAULT_STUDENT), prompt)
    counts = demo_gate(decisions, prompt.category_of).counts()
    assert counts["abusive_held"] == "10/10", counts
    assert counts["spam_held"] == "8/8", counts
    allowed, benign = map(int, counts["benign_allowed"].split("/"))
    assert allowed >= benign - 1, counts
