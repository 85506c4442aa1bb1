"""`DeadLetter`: a message the worker could not process, kept whole on `moderation.dlq`."""

import base64
from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict


class DeadLetterReason(StrEnum):
    """Why a message was dead-lettered."""

    NOT_JSON = "not_json"
    INVALID_SCHEMA = "invalid_schema"
    EMPTY_TEXT = "empty_text"
    TOO_LARGE = "too_large"
    INFERENCE_ERROR = "inference_error"


class DeadLetter(BaseModel):
    """The original bytes of a rejected message with the reason and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: DeadLetterReason
    error: str
    original_base64: str
    original_key_base64: str | None
    topic: str
    partition: int
    offset: int
    worker_id: str
    rejected_at: datetime

    @classmethod
    def wrap(cls, original: bytes, key: bytes | None, **fields: object) -> Self:
        """Build a dead letter around the original value and key bytes."""
        return cls.model_validate(
            {
                **fields,
                "original_base64": base64.b64encode(original).decode(),
                "original_key_base64": None if key is None else base64.b64encode(key).decode(),
            }
        )

    @property
    def original(self) -> bytes:
        """The rejected message exactly as it was received."""
        return base64.b64decode(self.original_base64)
