"""ModerationDecision and DeadLetter: invariants consumers rely on."""

import hashlib
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import DeadLetter, DeadLetterReason, ModelId, ModerationDecision, ModerationRequest, decision_key
from schemas.dead_letters import MAX_KEY_BYTES, MAX_ORIGINAL_BYTES
from tests.schemas.helpers import make_prompt

MODEL = ModelId(file_name="m.gguf", sha256="0" * 64)
KAFKA_DEFAULT_MAX_RECORD_BYTES = 1_000_000


def make_decision(**overrides: object) -> ModerationDecision:
    prompt = make_prompt()
    fields: dict[str, object] = {
        "request_id": "r1",
        "label": "block",
        "probabilities": {"allow": 0.25, "block": 0.75},
        "scoring_mode": "single_pass",
        "prompt_version": prompt.version,
        "prompt_sha256": prompt.sha256,
        "model_id": MODEL,
        "latency_ms": 12.5,
        "model_ms": 10.0,
        "batch_size": 4,
        "decided_at": datetime.now(UTC),
        "worker_id": "w1",
    }
    fields.update(overrides)
    return ModerationDecision.model_validate(fields)


def test_round_trip() -> None:
    """A decision survives JSON serialisation unchanged."""
    decision = make_decision()
    assert ModerationDecision.model_validate_json(decision.model_dump_json()) == decision


def test_label_must_have_a_probability() -> None:
    """A label outside the probability table is refused."""
    with pytest.raises(ValidationError, match="has no probability"):
        make_decision(label="review")


def test_probabilities_must_sum_to_one() -> None:
    """Probabilities that do not sum to 1 are refused."""
    with pytest.raises(ValidationError, match="sum to"):
        make_decision(probabilities={"allow": 0.5, "block": 0.6})


def test_check_against_prompt() -> None:
    """A decision must use its prompt's labels and cite only its prompt's instructions."""
    prompt = make_prompt()
    make_decision(instruction_ids=[prompt.instructions[0].id]).check_against(prompt)
    with pytest.raises(ValueError, match="not in the prompt"):
        make_decision(instruction_ids=["ins-unknown"]).check_against(prompt)
    with pytest.raises(ValueError, match="differ"):
        make_decision(label="allow", probabilities={"allow": 0.5, "spam": 0.5}).check_against(prompt)


def test_dead_letter_keeps_original_bytes() -> None:
    """The original bytes, even invalid UTF-8, come back exactly from a dead letter's JSON."""
    original = b"\xff\xfe not utf-8 {"
    letter = DeadLetter.wrap(
        original,
        b"key",
        reason=DeadLetterReason.NOT_JSON,
        error="bad",
        topic="t",
        partition=0,
        offset=7,
        worker_id="w",
        rejected_at=datetime.now(UTC),
    )
    assert DeadLetter.model_validate_json(letter.model_dump_json()).original == original


def test_a_dead_letter_too_large_for_kafka_keeps_a_prefix_and_says_so() -> None:
    """A huge original is cut to MAX_ORIGINAL_BYTES, its full size and sha256 kept; the letter fits a record."""
    original = b"x" * (3 * MAX_ORIGINAL_BYTES)
    letter = DeadLetter.wrap(
        original,
        b"k" * (2 * MAX_KEY_BYTES),
        reason=DeadLetterReason.TOO_LARGE,
        error="e" * 100_000,
        topic="t",
        partition=0,
        offset=1,
        worker_id="w",
        rejected_at=datetime.now(UTC),
    )
    assert letter.original_truncated
    assert letter.original_key_truncated
    assert letter.original == original[:MAX_ORIGINAL_BYTES]
    assert (letter.original_size, letter.original_sha256) == (len(original), hashlib.sha256(original).hexdigest())
    assert len(letter.model_dump_json()) < KAFKA_DEFAULT_MAX_RECORD_BYTES


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("b:c", "a"), ("c", "a:b")),
        (("b:c", "a"), ("a:b:c", None)),
        (("c", "a:b"), ("a:b:c", None)),
    ],
)
def test_decision_keys_are_unambiguous(first: tuple[str, str | None], second: tuple[str, str | None]) -> None:
    """Different (request id, tenant) pairs never share a key, whatever colons they hold."""
    assert decision_key(*first) != decision_key(*second)


def test_the_key_separator_is_refused_in_ids_and_tenants() -> None:
    """`/` separates tenant and id in keys, so neither may contain it."""
    with pytest.raises(ValidationError):
        ModerationRequest(id="t/x", text="hi")
    with pytest.raises(ValidationError):
        ModerationRequest(id="x", text="hi", tenant="a/b")
