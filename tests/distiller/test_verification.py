"""Rule verification: a rule whose condition reads as another label never reaches a prompt."""

from pathlib import Path

from distiller.abstraction import Candidate
from distiller.teacher import CompletionRequest, FakeTeacher
from distiller.teacher_cache import TeacherCache
from distiller.verification import verify
from tests.distiller.test_abstraction import DATASET, pattern

CONTRADICTION = "If the sentence does not generalise about any group, label it stereotype."
SOUND = "If the sentence generalises about a group, label it stereotype."


def reads_conditions(request: CompletionRequest) -> str:
    """A teacher that reads a negated condition as 'unrelated' and a generalisation as 'stereotype'."""
    prompt = request.messages[-1].content
    label = "unrelated" if "does not generalise" in prompt else "stereotype"
    return f"Such a message fits {label}.\nAnswer: {label}"


def candidate(text: str) -> Candidate:
    return Candidate(text, "stereotype", pattern(text, "stereotype", ["a", "b"]), "teacher")


def test_a_rule_contradicting_its_label_is_dropped(tmp_path: Path) -> None:
    """The contradiction goes with a note naming what the teacher read; the sound rule stays."""
    cache = TeacherCache(tmp_path / "cache.jsonl")
    kept, notes = verify([candidate(CONTRADICTION), candidate(SOUND)], DATASET, FakeTeacher(reads_conditions), cache)
    assert [c.text for c in kept] == [SOUND]
    assert notes == [f"dropped: the teacher reads the condition as unrelated, not its label: '{CONTRADICTION}'"]


def test_the_teacher_sees_the_condition_without_its_conclusion(tmp_path: Path) -> None:
    """Asked about the condition alone, the teacher cannot simply echo 'label it stereotype'; replies are cached."""
    teacher = FakeTeacher(reads_conditions)
    cache = TeacherCache(tmp_path / "cache.jsonl")
    verify([candidate(SOUND)], DATASET, teacher, cache)
    [request] = teacher.calls
    assert "label it" not in request.messages[-1].content
    again = FakeTeacher(reads_conditions)
    verify([candidate(SOUND)], DATASET, again, cache)
    assert again.calls == []


def test_without_a_teacher_rules_pass_unverified() -> None:
    """No teacher, no check: every candidate passes and the notes say so."""
    kept, notes = verify([candidate(CONTRADICTION)], DATASET, None, None)
    assert len(kept) == 1
    assert notes == ["rules not verified: no teacher"]
