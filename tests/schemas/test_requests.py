"""ModerationRequest: what producers may send and what is refused."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from schemas import ModerationRequest
from schemas.limits import MAX_METADATA_ENTRIES, MAX_TEXT_CHARS


def test_round_trip_through_json() -> None:
    """A request survives serialisation to JSON and back unchanged."""
    request = ModerationRequest(id="req-1", text="hello", tenant="acme", metadata={"lang": "en"})
    assert ModerationRequest.model_validate_json(request.model_dump_json()) == request


def test_created_at_defaults_to_now() -> None:
    """Producers may omit created_at; it is filled with a timezone-aware time."""
    request = ModerationRequest.model_validate({"id": "a", "text": "hi"})
    assert request.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": "no id"}, "id"),
        ({"id": "", "text": "x"}, "id"),
        ({"id": "has space", "text": "x"}, "id"),
        ({"id": "x" * 129, "text": "x"}, "id"),
        ({"id": "a", "text": "   "}, "text"),
        ({"id": "a", "text": "x" * (MAX_TEXT_CHARS + 1)}, "text"),
        ({"id": "a", "text": "x", "metadata": {str(i): "v" for i in range(MAX_METADATA_ENTRIES + 1)}}, "metadata"),
        ({"id": "a", "text": "x", "metadata": {"k": "v" * 513}}, "metadata"),
        ({"id": "a", "text": "x", "surprise": 1}, "surprise"),
        ({"id": "a", "text": 5}, "text"),
    ],
)
def test_rejects_malformed_or_oversize_fields(payload: dict[str, object], field: str) -> None:
    """Each malformed or oversize field fails validation with an error naming that field."""
    with pytest.raises(ValidationError) as info:
        ModerationRequest.model_validate(payload)
    assert field in {str(error["loc"][0]) for error in info.value.errors()}


def test_a_naive_created_at_is_read_as_utc() -> None:
    """A timestamp without a timezone is schema-valid and is read as UTC, so latency arithmetic never fails."""
    request = ModerationRequest.model_validate({"id": "naive", "text": "hello", "created_at": "2024-01-01T00:00:00"})
    assert request.created_at.tzinfo is not None
    assert request.created_at.utcoffset() == timedelta(0)
    assert (datetime.now(UTC) - request.created_at).total_seconds() > 0
