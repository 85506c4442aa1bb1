"""CascadeStudent with fake students: who decides, what the decision records, what the threshold must match."""

from datetime import date

import pytest

from schemas import CascadeThreshold, ModelId, PromptVersion, ScoringMode
from stream.prompts import starter_prompt
from stream.student import CascadeStudent
from stream.student.testing import FakeStudent

FAST = ModelId(file_name="fast.gguf", sha256="1" * 64)
STRONG = ModelId(file_name="strong.gguf", sha256="2" * 64)


def threshold(confidence: float, fast: ModelId = FAST) -> CascadeThreshold:
    return CascadeThreshold(
        fast_model_sha256=fast.sha256,
        fast_model_file=fast.file_name,
        strong_model_sha256=STRONG.sha256,
        scoring_mode=ScoringMode.SINGLE_PASS,
        confidence=confidence,
        tolerance=0.01,
        dev_split="demo:dev",
        dev_examples=10,
        dev_sha256="3" * 64,
        dev_fast_share=0.5,
        dev_macro_f1=0.8,
        dev_strong_macro_f1=0.8,
        fitted_on=date(2026, 12, 2),
    )


def students(prompt: PromptVersion) -> tuple[FakeStudent, FakeStudent]:
    """A fast student sure only of greetings (and wrong about threats), a strong one that is always right."""
    fast = FakeStudent(prompt, FAST, rule=lambda _text: "allow", certainty=lambda t: 0.95 if "hello" in t else 0.5)
    strong = FakeStudent(prompt, STRONG, rule=lambda t: "block" if "kill" in t else "allow")
    return fast, strong


def test_the_fast_student_decides_where_confident_and_the_strong_one_the_rest() -> None:
    prompt = starter_prompt()
    fast, strong = students(prompt)
    cascade = CascadeStudent(fast, strong, threshold(0.9))
    results = cascade.classify(["hello there", "I will kill you", "hello again", "nice weather"])
    assert [r.label for r in results] == ["allow", "block", "allow", "allow"]
    assert [r.decided_by for r in results] == [FAST, STRONG, FAST, STRONG]
    assert strong.calls == [["I will kill you", "nice weather"]]  # the strong one reads only what was unsure
    assert fast.calls == [["hello there", "I will kill you", "hello again", "nice weather"]]
    assert cascade.engine.cascade is not None
    assert (cascade.engine.cascade.fast_model, cascade.engine.cascade.confidence) == (FAST, 0.9)
    assert (cascade.model_id, cascade.prompt) == (STRONG, prompt)


def test_a_confident_batch_never_wakes_the_strong_student() -> None:
    fast, strong = students(starter_prompt())
    cascade = CascadeStudent(fast, strong, threshold(0.9))
    assert [r.decided_by for r in cascade.classify(["hello", "hello you"])] == [FAST, FAST]
    assert strong.calls == []


def test_a_threshold_fitted_for_another_model_is_refused_and_close_releases_both() -> None:
    fast, strong = students(starter_prompt())
    other = ModelId(file_name="other.gguf", sha256="4" * 64)
    with pytest.raises(ValueError, match="another pair"):
        CascadeStudent(fast, strong, threshold(0.9, fast=other))
    cascade = CascadeStudent(fast, strong, threshold(0.9))
    cascade.close()
    assert fast.closed
    assert strong.closed


def test_a_version_carries_its_cascade_in_its_hash_and_name() -> None:
    prompt = starter_prompt()
    with_cascade = prompt.with_cascade(threshold(0.9))
    assert with_cascade.cascade_for(FAST.sha256, STRONG.sha256, ScoringMode.SINGLE_PASS) == threshold(0.9)
    assert with_cascade.cascade_for(FAST.sha256, STRONG.sha256, ScoringMode.RULE_CHECK) is None
    assert with_cascade.sha256 != prompt.sha256
    assert with_cascade.version != prompt.version
    refitted = with_cascade.with_cascade(threshold(0.8))
    assert [c.confidence for c in refitted.cascades] == [0.8]  # one threshold per pair and mode
    assert PromptVersion.model_validate(refitted.model_dump(mode="json")) == refitted
    assert refitted.without_calibrations().cascades == []
