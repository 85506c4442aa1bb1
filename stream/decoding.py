"""From raw Kafka bytes to a validated request, or to a dead letter that keeps the bytes and the reason.

The request decoder: every byte string becomes a `ModerationRequest` or a `RejectedMessage` with a reason.

Strict on purpose, because its input is hostile: UTF-8 only (no byte-order mark, no UTF-16/32 that
`json.loads` would sniff), standard JSON only (no NaN/Infinity), no duplicate keys (which one would
win is parser-dependent), nesting and number lengths bounded before parsing (deep nesting exhausts
the recursion limit, a 5,000-digit integer trips Python's int-conversion limit), no lone surrogates
(they cannot be encoded back to UTF-8 for the tokenizer). Nothing else may escape: any other error
is reported as not-JSON rather than raised.
"""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from pydantic import ValidationError

from schemas import DeadLetter, DeadLetterReason, ModerationRequest

MAX_JSON_DEPTH = 16  # a request is an object of strings with one metadata object: depth 2
MAX_NUMBER_CHARS = 32
UTF8_BOM = "\ufeff"
OPENERS = frozenset("[{")
CLOSERS = frozenset("]}")


class RejectedMessage(Exception):  # noqa: N818 - a rejection, not a failure of the worker
    """A message that cannot become a request; carries the dead-letter reason."""

    def __init__(self, reason: DeadLetterReason, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.error = error


def decode_request(raw: bytes, max_bytes: int) -> ModerationRequest:
    """The request in `raw`, or RejectedMessage saying exactly what is wrong with it."""
    if len(raw) > max_bytes:
        raise RejectedMessage(DeadLetterReason.TOO_LARGE, f"message is {len(raw)} bytes, limit {max_bytes}")
    text = _strict_utf8(raw)
    _check_depth(text)
    payload = _parse_json(text)
    try:
        return ModerationRequest.model_validate(payload)
    except ValidationError as exc:
        reason = DeadLetterReason.EMPTY_TEXT if _only_empty_text(exc) else DeadLetterReason.INVALID_SCHEMA
        raise RejectedMessage(reason, _describe(exc)) from exc


def _strict_utf8(raw: bytes) -> str:
    if b"\x00" in raw:  # never valid in JSON text: the tell of UTF-16/32 without a byte-order mark
        raise RejectedMessage(DeadLetterReason.NOT_UTF8, f"holds a NUL byte at {raw.index(0)} (UTF-16 or UTF-32?)")
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise RejectedMessage(DeadLetterReason.NOT_UTF8, f"not valid UTF-8 at byte {exc.start}: {exc.reason}") from exc
    if text.startswith(UTF8_BOM):
        raise RejectedMessage(DeadLetterReason.NOT_UTF8, "starts with a byte-order mark; send plain UTF-8")
    return text


def _check_depth(text: str) -> None:
    """Reject nesting deeper than MAX_JSON_DEPTH in one pass, before the (recursive) parser sees it."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in OPENERS:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise RejectedMessage(DeadLetterReason.JSON_TOO_COMPLEX, f"nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in CLOSERS:
            depth -= 1


def _parse_json(text: str) -> Any:
    try:
        payload = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
            parse_constant=_no_constants,
        )
    except RejectedMessage:
        raise
    except json.JSONDecodeError as exc:
        raise RejectedMessage(DeadLetterReason.NOT_JSON, f"not valid JSON: {exc}") from exc
    except (ValueError, RecursionError, TypeError) as exc:
        raise RejectedMessage(DeadLetterReason.NOT_JSON, f"not valid JSON: {type(exc).__name__}: {exc}") from exc
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RejectedMessage(DeadLetterReason.NOT_UTF8, "holds a lone surrogate escape (\\ud800-\\udfff)") from exc
    return payload


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RejectedMessage(DeadLetterReason.DUPLICATE_KEY, f"key {key[:64]!r} appears more than once")
        result[key] = value
    return result


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        _too_long(literal)
    return int(literal)


def _bounded_float(literal: str) -> float:
    value = float(literal) if len(literal) <= MAX_NUMBER_CHARS else _too_long(literal)
    if not math.isfinite(value):
        raise RejectedMessage(DeadLetterReason.JSON_TOO_COMPLEX, f"number {literal[:40]} overflows a double")
    return value


def _too_long(literal: str) -> NoReturn:
    raise RejectedMessage(
        DeadLetterReason.JSON_TOO_COMPLEX, f"a number of {len(literal)} characters (limit {MAX_NUMBER_CHARS})"
    )


def _no_constants(name: str) -> NoReturn:
    raise RejectedMessage(DeadLetterReason.NOT_JSON, f"{name} is not standard JSON")


def _only_empty_text(exc: ValidationError) -> bool:
    return all(error["loc"] == ("text",) and "empty" in error["msg"] for error in exc.errors())


def _describe(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in error['loc']) or '<root>'}: {error['msg']}" for error in exc.errors()]
    return "; ".join(parts)


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
