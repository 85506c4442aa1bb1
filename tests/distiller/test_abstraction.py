"""Abstraction: teacher rules validated, fallback rules, duplicates merged and conflicts resolved."""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from distiller.abstraction import (
    DUPLICATE_WORD_OVERLAP,
    abstract,
    condition_of,
    fallback_rule,
    merge,
    valid_rule,
    word_overlap,
)
from distiller.mining import Pattern, Step
from distiller.teacher_cache import TeacherCache
from distiller.testing import FakeTeacher
from schemas import Category, LabelDefinition
from tests.distiller.helpers import DATASET, bag_of_words, pattern


def test_valid_rule_accepts_the_requested_shape() -> None:
    """A one-line 'If ..., label it X.' rule passes and is normalised; other replies are refused."""
    assert valid_rule('"If the sentence generalises a group, label it as stereotype."', "stereotype") == (
        "If the sentence generalises a group, label it stereotype."
    )
    assert valid_rule("Sure! Here is a rule.", "stereotype") is None
    assert valid_rule("If the sentence is long, label it unrelated.", "stereotype") is None


def test_fallback_rule_uses_the_central_step() -> None:
    """Without a usable teacher reply, the rule is built from the most central step."""
    assert fallback_rule(pattern("The sentence is off topic.", "unrelated", ["a"])) == (
        "If the sentence is off topic, label it unrelated."
    )


def test_teacher_rules_are_cached(tmp_path: Path) -> None:
    """The teacher is asked once per pattern; a second abstraction reads the cache."""
    teacher = FakeTeacher(replies=["If the sentence generalises about a group, label it stereotype."])
    cache = TeacherCache(tmp_path / "cache.jsonl")
    patterns = [pattern("It says all members of a group are alike.", "stereotype", ["a", "b", "c"])]
    first = abstract(patterns, DATASET, teacher, cache)
    second = abstract(patterns, DATASET, teacher, TeacherCache(tmp_path / "cache.jsonl"))
    assert first[0].abstracted_by == "teacher"
    assert second[0].text == first[0].text
    assert len(teacher.calls) == 1


def test_duplicates_merge_and_conflicts_keep_the_stronger_rule() -> None:
    """Near-identical rules for one label merge their evidence; opposite rules on the same examples keep the best."""
    strong = pattern("If the sentence is about another topic, label it unrelated.", "unrelated", ["a", "b", "c", "d"])
    duplicate = pattern("If the sentence is about another topic, label it unrelated.", "unrelated", ["e", "f", "g"])
    conflict = pattern("If the sentence mentions a group, label it stereotype.", "stereotype", ["a", "b", "c"])
    candidates = abstract([strong, duplicate, conflict], DATASET, None, None)
    kept, notes = merge(candidates, bag_of_words)
    assert [c.pattern for c in kept] == [strong]
    assert kept[0].example_ids == {"a", "b", "c", "d", "e", "f", "g"}
    assert len(notes) == 2


def test_like_rules_of_two_categories_are_no_duplicates() -> None:
    """Two near-identical block rules mined in different categories (hate, dangerous) both stay."""
    text = "If the message asks for help harming a group, label it block."
    hate = Pattern(tuple(Step(text, e, "block", False, "hate") for e in "ab"), (text,), "block", 2, 1.0, "hate")
    other = Pattern(
        tuple(Step(text, e, "block", False, "dangerous") for e in "cd"), (text,), "block", 2, 1.0, "dangerous"
    )
    kept, notes = merge(abstract([hate, other], DATASET, None, None), bag_of_words)
    assert ({c.pattern.category for c in kept}, notes) == ({"hate", "dangerous"}, [])


def test_a_pattern_mined_in_a_category_asks_for_one_concrete_rule_of_it(tmp_path: Path) -> None:
    """The teacher is told the category and its description and warned off generic rules."""
    taxonomy = replace(
        DATASET,
        labels=[LabelDefinition(name="allow", description="a"), LabelDefinition(name="block", description="b")],
        default_label="allow",
        categories=[Category(name="threat", action="block", description="Threats of violence against people.")],
    )
    steps = tuple(Step("the text says it will hurt someone", example, "block", False, "threat") for example in "ab")
    threat = Pattern(steps, ("the text says it will hurt someone",), "block", 2, 1.0, "threat")
    teacher = FakeTeacher(["If the message says the writer will hurt someone, label it block."])
    [candidate] = abstract([threat], taxonomy, teacher, TeacherCache(tmp_path / "cache.jsonl"))
    assert candidate.text == "If the message says the writer will hurt someone, label it block."
    prompt = teacher.calls[0].messages[-1].content
    assert "category 'threat' (Threats of violence against people)" in prompt
    assert "Never write a generic rule" in prompt


def alike_embeddings(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Word counts on top of one large shared direction, as raw LM embeddings are: every pair has cosine > 0.9."""
    words = bag_of_words(texts)
    shared = np.zeros((len(texts), 1), dtype=np.float32) + 4.0
    rows = np.hstack([words, shared])
    unit: npt.NDArray[np.float32] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


def test_rules_are_duplicates_by_their_conditions_not_by_their_shared_shape() -> None:
    """Three allow rules whose raw embeddings are all alike: the two about different things both stay, the one
    that only rewords a kept condition's template merges into it."""
    illness = pattern("The message asks about the causes of mental illness.", "unrelated", ["a"])
    friend = pattern("The message asks how to make up with a friend.", "unrelated", ["b"])
    reworded = pattern("The text asks about the causes of mental illness.", "unrelated", ["c"])
    candidates = abstract([illness, friend, reworded], DATASET, None, None)
    raw = alike_embeddings([c.text for c in candidates])
    assert float(raw[0] @ raw[1]) > 0.9
    kept, notes = merge(candidates, alike_embeddings)
    assert [c.pattern for c in kept] == [illness, friend]
    assert kept[0].example_ids == {"a", "c"}
    assert len(notes) == 1


def test_conditions_naming_the_same_content_words_are_duplicates() -> None:
    """Two medical-advice rules say the same thing; a pharmacist question and a greeting share only filler."""
    medical = "If the message asks for medical advice, label it allow."
    longer = "If the message is asking for medical advice, medication, or medical procedures, label it allow."
    assert word_overlap(condition_of(medical), condition_of(longer)) >= DUPLICATE_WORD_OVERLAP
    pharmacist = condition_of("If the message is a simple question about a pharmacist, label it allow.")
    assert word_overlap(pharmacist, condition_of("If the message is a simple greeting, label it allow.")) == 0.0
