"""`DeadLetter`: a message the worker could not process, kept (whole when it fits) on `moderation.dlq`."""

import base64
import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# A dead letter must itself fit a Kafka record (1 MB by default) after base64 (x4/3) and its fields.
MAX_ORIGINAL_BYTES = 256 * 1024
MAX_KEY_BYTES = 1024
MAX_ERROR_CHARS = 2000
TRUNCATION_MARK = " [...]"


class DeadLetterReason(StrEnum):
    """Why a message was dead-lettered."""

    NOT_UTF8 = "not_utf8"  # not strict UTF-8 (UTF-16/32, a byte-order mark, invalid bytes)
    NOT_JSON = "not_json"
    JSON_TOO_COMPLEX = "json_too_complex"  # nested too deep or a number too long
    DUPLICATE_KEY = "duplicate_key"
    INVALID_SCHEMA = "invalid_schema"
    EMPTY_TEXT = "empty_text"
    TOO_LARGE = "too_large"
    INFERENCE_ERROR = "inference_error"
    OUTPUT_ERROR = "output_error"  # a decision could not be built from the student's answer


class DeadLetter(BaseModel):
    """The original bytes of a rejected message with the reason and where it came from.

    An original larger than `MAX_ORIGINAL_BYTES` is cut to its first `MAX_ORIGINAL_BYTES` bytes
    (`original_truncated`); `original_size` and `original_sha256` always describe the whole message.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: DeadLetterReason
    error: Annotated[str, StringConstraints(max_length=MAX_ERROR_CHARS + len(TRUNCATION_MARK))]
    original_base64: str
    original_size: int | None = Field(default=None, ge=0)  # None only on letters written before it existed
    original_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    original_truncated: bool = False
    original_key_base64: str | None
    original_key_truncated: bool = False
    topic: str
    partition: int
    offset: int
    worker_id: str
    rejected_at: datetime

    @classmethod
    def wrap(cls, original: bytes, key: bytes | None, *, error: str, **fields: object) -> Self:
        """Build a dead letter around the original value and key bytes, cutting what would not fit."""
        short_error = error if len(error) <= MAX_ERROR_CHARS else error[:MAX_ERROR_CHARS] + TRUNCATION_MARK
        return cls.model_validate(
            {
                **fields,
                "error": short_error,
                "original_base64": base64.b64encode(original[:MAX_ORIGINAL_BYTES]).decode(),
                "original_size": len(original),
                "original_sha256": hashlib.sha256(original).hexdigest(),
                "original_truncated": len(original) > MAX_ORIGINAL_BYTES,
                "original_key_base64": None if key is None else base64.b64encode(key[:MAX_KEY_BYTES]).decode(),
                "original_key_truncated": key is not None and len(key) > MAX_KEY_BYTES,
            }
        )

    @property
    def key(self) -> str:
        """The dead letter's Kafka key: `topic:partition:offset` of the rejected record, so a record
        rejected twice (a retried batch) lands under one key."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def original(self) -> bytes:
        """The rejected message as received (its first `MAX_ORIGINAL_BYTES` when `original_truncated`)."""
        return base64.b64decode(self.original_base64)

    @property
    def original_key(self) -> bytes | None:
        """The rejected message's key as received (cut when `original_key_truncated`)."""
        return None if self.original_key_base64 is None else base64.b64decode(self.original_key_base64)
