"""Rule verification: a rule whose condition reads as another label never reaches a prompt."""

from dataclasses import replace
from pathlib import Path

from distiller.abstraction import Candidate
from distiller.mining import Pattern, Step
from distiller.teacher import CompletionRequest
from distiller.teacher_cache import TeacherCache
from distiller.testing import FakeTeacher
from distiller.verification import is_generic, restates_default, verify
from schemas import Category, LabelDefinition
from tests.distiller.helpers import DATASET, pattern

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


TAXONOMY = replace(
    DATASET,
    labels=[LabelDefinition(name="allow", description="a"), LabelDefinition(name="block", description="b")],
    default_label="allow",
    categories=[
        Category(name="dangerous", action="block", description="Requests for help with weapons."),
        Category(name="hate", action="block", description="Hateful talk about groups."),
    ],
)
WEAPONS = "If the message asks how to build a weapon at home, label it block."
SLUR = "If the message calls a group of people vermin, label it block."
WEATHER = "If the message complains about rainy weather, label it block."
GENERIC = "If the message contains harmful, offensive or inappropriate content, label it block."


def categorised(text: str, category: str) -> Candidate:
    steps = tuple(Step(text, example, "block", False, category) for example in ("a", "b"))
    return Candidate(text, "block", Pattern(steps, (text,), "block", 2, 1.0, category), "teacher")


def reads_categories(request: CompletionRequest) -> str:
    """A teacher that files weapons under dangerous, the weather under none and everything else under hate."""
    condition = request.messages[-1].content.split("property:")[1]
    category = "dangerous" if "weapon" in condition else "none" if "weather" in condition else "hate"
    return f"That is {category}.\nAnswer: {category}"


def test_with_a_taxonomy_a_rule_must_read_as_its_own_category(tmp_path: Path) -> None:
    """The teacher is asked for the condition's category; a rule it reads as another category of the same
    action is filed there, and one it reads as a category of another action (here `none`) is dropped."""
    teacher = FakeTeacher(reads_categories)
    cache = TeacherCache(tmp_path / "cache.jsonl")
    candidates = [
        categorised(WEAPONS, "dangerous"),
        categorised(SLUR, "hate"),
        categorised(WEAPONS, "hate"),
        categorised(WEATHER, "hate"),
    ]
    kept, notes = verify(candidates, TAXONOMY, teacher, cache)
    assert [(c.text, c.pattern.category) for c in kept] == [
        (WEAPONS, "dangerous"),
        (SLUR, "hate"),
        (WEAPONS, "dangerous"),
    ]
    assert notes == [
        f"re-filed under dangerous (mined in hate, the teacher reads it so): '{WEAPONS}'",
        f"dropped: the teacher reads the condition as none, not hate: '{WEATHER}'",
    ]
    assert "dangerous, hate, none" in teacher.calls[0].messages[-1].content


def test_with_a_taxonomy_a_generic_rule_is_dropped_unasked(tmp_path: Path) -> None:
    """'Harmful or inappropriate content' names nothing a reader can check: it goes before the teacher is asked."""
    teacher = FakeTeacher(reads_categories)
    kept, notes = verify([categorised(GENERIC, "hate")], TAXONOMY, teacher, TeacherCache(tmp_path / "c.jsonl"))
    assert kept == []
    assert notes == [f"dropped as generic (nothing checkable): '{GENERIC}'"]
    assert teacher.calls == []
    assert not is_generic(WEAPONS)
    negated = "If the message does not contain any offensive language, sexual content or threats, label it allow."
    assert restates_default(negated, "allow", TAXONOMY)
    assert not restates_default("If the message asks for advice on a legal issue, label it allow.", "allow", TAXONOMY)
    assert not restates_default("If the message does not ask first, label it block.", "block", TAXONOMY)
    assert is_generic("If the message contains hateful content, label it block.")


def test_of_a_group_s_fallback_rules_the_best_ranked_that_passes_is_kept(tmp_path: Path) -> None:
    """A thin category's fallbacks stand in for each other: the first is rejected, the second kept, the third
    not needed; a well-supported rule of the same category is no fallback and stays."""
    teacher = FakeTeacher(reads_categories)

    def fallback(text: str, rank: int) -> Candidate:
        made = categorised(text, "hate")
        return replace(made, pattern=replace(made.pattern, fallback=("hate", rank)))

    other_slur = "If the message calls a named person worthless, label it block."
    candidates = [fallback(WEATHER, 0), fallback(SLUR, 1), fallback(other_slur, 2), categorised(SLUR, "hate")]
    kept, notes = verify(candidates, TAXONOMY, teacher, TeacherCache(tmp_path / "cache.jsonl"))
    assert [(c.text, c.pattern.fallback) for c in kept] == [(SLUR, ("hate", 1)), (SLUR, None)]
    assert notes == [
        f"dropped: the teacher reads the condition as none, not hate: '{WEATHER}'",
        f"not needed: '{SLUR}' stands in for hate: '{other_slur}'",
    ]
