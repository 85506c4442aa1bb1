"""`ModerationRequest`: one piece of user text to classify, as it arrives on `moderation.requests`."""

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from schemas.limits import (
    ID_PATTERN,
    MAX_ID_CHARS,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_VALUE_CHARS,
    MAX_TENANT_CHARS,
    MAX_TEXT_CHARS,
)

RequestId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
TenantId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TENANT_CHARS, pattern=ID_PATTERN)]
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_METADATA_KEY_CHARS)]
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE_CHARS)]


VISIBLE_CATEGORIES = frozenset("LNPS")  # letters, numbers, punctuation, symbols


def _now() -> datetime:
    return datetime.now(UTC)


def has_visible_content(text: str) -> bool:
    """Whether `text` holds anything a reader sees: whitespace, zero-width and control characters,
    and combining marks without a base do not count."""
    return any(unicodedata.category(char)[0] in VISIBLE_CATEGORIES for char in text)


class ModerationRequest(BaseModel):
    """A message to moderate. `id` is chosen by the producer and must be unique per request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: RequestId
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
    tenant: TenantId | None = None
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=MAX_METADATA_ENTRIES)
    created_at: datetime = Field(default_factory=_now)  # a naive timestamp is read as UTC

    @field_validator("created_at")
    @classmethod
    def _aware(cls, created_at: datetime) -> datetime:
        """Read a timestamp without a timezone as UTC, so every later subtraction is between aware times."""
        return created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)

    @field_validator("text")
    @classmethod
    def _text_has_content(cls, text: str) -> str:
        if not has_visible_content(text):
            msg = "text is empty or has only invisible characters (whitespace, zero-width, control)"
            raise ValueError(msg)
        return text
