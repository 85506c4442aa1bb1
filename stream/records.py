"""From raw Kafka bytes to a validated request, or to a dead letter that keeps the bytes and the reason."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas import DeadLetter, DeadLetterReason, ModerationRequest


@dataclass(frozen=True)
class IncomingRecord:
    """One consumed Kafka record, reduced to what processing and dead-lettering need."""

    value: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int


class RejectedMessage(Exception):  # noqa: N818 - a rejection, not a failure of the worker
    """A message that cannot become a request; carries the dead-letter reason."""

    def __init__(self, reason: DeadLetterReason, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.error = error


def parse_request(record: IncomingRecord, max_bytes: int) -> ModerationRequest:
    """The request in `record`, or RejectedMessage saying exactly what is wrong with it."""
    if len(record.value) > max_bytes:
        raise RejectedMessage(DeadLetterReason.TOO_LARGE, f"message is {len(record.value)} bytes, limit {max_bytes}")
    try:
        payload = json.loads(record.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RejectedMessage(DeadLetterReason.NOT_JSON, f"not valid UTF-8 JSON: {exc}") from exc
    try:
        return ModerationRequest.model_validate(payload)
    except ValidationError as exc:
        reason = DeadLetterReason.EMPTY_TEXT if _only_empty_text(exc) else DeadLetterReason.INVALID_SCHEMA
        raise RejectedMessage(reason, _describe(exc)) from exc


def _only_empty_text(exc: ValidationError) -> bool:
    return all(error["loc"] == ("text",) and "empty" in error["msg"] for error in exc.errors())


def _describe(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in error['loc']) or '<root>'}: {error['msg']}" for error in exc.errors()]
    return "; ".join(parts)


def dead_letter(record: IncomingRecord, rejection: RejectedMessage, worker_id: str) -> DeadLetter:
    """The dead letter for a rejected record."""
    return DeadLetter.wrap(
        record.value,
        record.key,
        reason=rejection.reason,
        error=rejection.error,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        worker_id=worker_id,
        rejected_at=datetime.now(UTC),
    )
