"""From raw Kafka bytes to a validated request, or to a dead letter that keeps the bytes and the reason."""

from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import DeadLetter, ModerationRequest
from stream.decoding import RejectedMessage, decode_request

__all__ = ["IncomingRecord", "RejectedMessage", "dead_letter", "parse_request"]


@dataclass(frozen=True)
class IncomingRecord:
    """One consumed Kafka record, reduced to what processing and dead-lettering need."""

    value: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int


def parse_request(record: IncomingRecord, max_bytes: int) -> ModerationRequest:
    """The request in `record`, or RejectedMessage saying exactly what is wrong with it."""
    return decode_request(record.value, max_bytes)


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
