"""`ScoringMode`: how a student turns a message into a label (see `stream/student/scoring.py`)."""

from enum import StrEnum


class ScoringMode(StrEnum):
    """How the student turned a message into a label."""

    SINGLE_PASS = "single_pass"  # noqa: S105 - a mode name, not a secret
    RULE_CHECK = "rule_check"
