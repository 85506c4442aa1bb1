"""The request decoder is total: every byte string becomes a request or a rejection with a reason."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import DeadLetterReason, ModerationRequest
from stream.decoding import MAX_JSON_DEPTH, RejectedMessage, decode_request

LIMIT = 64 * 1024


def rejection(raw: bytes) -> DeadLetterReason:
    with pytest.raises(RejectedMessage) as info:
        decode_request(raw, LIMIT)
    assert info.value.error
    return info.value.reason


def request_bytes(**fields: object) -> bytes:
    return json.dumps({"id": "r1", "text": "hello", **fields}).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"id": "r1", "text": "hi"}'.encode("utf-16"), DeadLetterReason.NOT_UTF8),
        ('{"id": "r1", "text": "hi"}'.encode("utf-16-le"), DeadLetterReason.NOT_UTF8),
        ('{"id": "r1", "text": "hi"}'.encode("utf-32"), DeadLetterReason.NOT_UTF8),
        ('{"id": "r1", "text": "hi"}'.encode("utf-8-sig"), DeadLetterReason.NOT_UTF8),
        (b'{"id": "r1", "text": "\\ud800"}', DeadLetterReason.NOT_UTF8),
        (b"[" * 5000 + b"]" * 5000, DeadLetterReason.JSON_TOO_COMPLEX),
        (b'{"id": "r1", "text": "x", "metadata": {"n": ' + b"9" * 5000 + b"}}", DeadLetterReason.JSON_TOO_COMPLEX),
        (b'{"id": "r1", "text": "x", "n": 1e999}', DeadLetterReason.JSON_TOO_COMPLEX),
        (b'{"id": "r1", "text": "x", "n": NaN}', DeadLetterReason.NOT_JSON),
        (b'{"id": "r1", "text": "x", "text": "y"}', DeadLetterReason.DUPLICATE_KEY),
        ('{"id": "r1", "text": "\u200b\u200c\u200d\u2060\ufeff \\t"}'.encode(), DeadLetterReason.EMPTY_TEXT),
        ('{"id": "r1", "text": "\u0301\u0302"}'.encode(), DeadLetterReason.EMPTY_TEXT),
        (b'{"id": "r1", "text": "x", "metadata": {"k": 5}}', DeadLetterReason.INVALID_SCHEMA),
        (b"", DeadLetterReason.NOT_JSON),
        (b"null", DeadLetterReason.INVALID_SCHEMA),
    ],
)
def test_poison_inputs_are_rejected_with_their_reason(raw: bytes, reason: DeadLetterReason) -> None:
    """Each hostile encoding or shape maps to a dead-letter reason instead of an exception."""
    assert rejection(raw) is reason


def test_nesting_within_the_bound_is_parsed_then_judged_by_the_schema() -> None:
    """Nesting up to the bound is no decoding error (the schema then refuses a nested metadata value)."""
    nested = b'{"id": "r1", "text": "x", "metadata": {"k": ' + b"[" * (MAX_JSON_DEPTH - 2) + b"]" * (MAX_JSON_DEPTH - 2)
    assert rejection(nested + b"}}") is DeadLetterReason.INVALID_SCHEMA


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    """A text full of brackets and escaped quotes is ordinary content."""
    text = '[[[[{{{{ \\" ' * 50
    request = decode_request(('{"id": "r1", "text": "' + text + '"}').encode(), LIMIT)
    assert request.text.startswith("[[[[{{{{")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_decode_or_are_rejected(raw: bytes) -> None:
    """No byte string makes the decoder raise anything but a rejection."""
    reason: DeadLetterReason | None = None
    try:
        decode_request(raw, LIMIT)
    except RejectedMessage as exc:
        reason = exc.reason
    assert reason is None or isinstance(reason, DeadLetterReason)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.text(max_size=40))
def test_any_json_request_decodes_or_is_rejected(extra: object, text: str) -> None:
    """Requests with arbitrary extra JSON and arbitrary text are either valid requests or rejected, never raised."""
    for payload in ({"id": "r1", "text": text, "metadata": extra}, {"id": "r1", "text": text}, extra):
        raw = json.dumps(payload, allow_nan=False).encode() if _finite(payload) else b"{}"
        try:
            request = decode_request(raw, LIMIT)
        except RejectedMessage:
            continue
        assert isinstance(request, ModerationRequest)


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True
