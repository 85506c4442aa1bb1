"""Parsing raw records: valid requests pass, everything else is rejected with the right reason."""

import json

import pytest

from schemas import DeadLetterReason
from stream.decoding import IncomingRecord, RejectedMessage, dead_letter, parse_request

LIMIT = 1024


def record(value: bytes) -> IncomingRecord:
    return IncomingRecord(value=value, key=b"k", topic="moderation.requests", partition=0, offset=3)


def test_valid_request_is_parsed() -> None:
    """A well-formed JSON request becomes a ModerationRequest."""
    request = parse_request(record(json.dumps({"id": "r1", "text": "hi"}).encode()), LIMIT)
    assert (request.id, request.text) == ("r1", "hi")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", DeadLetterReason.NOT_JSON),
        (b"\xff\xfe", DeadLetterReason.NOT_UTF8),
        (b'{"id": "r1"}', DeadLetterReason.INVALID_SCHEMA),
        (b'["a list"]', DeadLetterReason.INVALID_SCHEMA),
        (b'{"id": "r1", "text": "  "}', DeadLetterReason.EMPTY_TEXT),
        (b'{"id": "r1", "text": "' + b"x" * LIMIT + b'"}', DeadLetterReason.TOO_LARGE),
    ],
)
def test_rejections_carry_their_reason(value: bytes, reason: DeadLetterReason) -> None:
    """Each kind of bad input maps to its own dead-letter reason."""
    with pytest.raises(RejectedMessage) as info:
        parse_request(record(value), LIMIT)
    assert info.value.reason is reason
    assert info.value.error


def test_dead_letter_keeps_bytes_and_position() -> None:
    """A dead letter records the original bytes, key, topic, partition and offset."""
    bad = record(b"not json")
    letter = dead_letter(bad, RejectedMessage(DeadLetterReason.NOT_JSON, "boom"), "w1")
    assert (letter.original, letter.topic, letter.partition, letter.offset) == (b"not json", bad.topic, 0, 3)
    assert letter.error == "boom"
    assert letter.key == f"{bad.topic}:0:3"  # its Kafka key: a record rejected twice lands under one key
