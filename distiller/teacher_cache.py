"""A resumable, append-only JSONL cache of teacher replies, so an interrupted or repeated run never pays twice.

Each line is one `CacheRecord`. Lines are flushed and fsynced as they are written, so a crash loses at most
the line being written; on load a truncated last line is dropped with a warning (and cut from the file so
the next append starts on a clean line). When a key appears twice, the later line wins.
"""

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from distiller.teacher import ChatMessage, Role

ERROR_EXCERPT_CHARS = 200

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CacheKey:
    """What identifies one teacher reply: who answered, which example, which prompt wording, which sample."""

    teacher_id: str
    example_id: str
    template_sha256: str
    sample_index: int


class CachedMessage(BaseModel):
    """A chat message as stored in the cache."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str

    @classmethod
    def of(cls, message: ChatMessage) -> "CachedMessage":
        """The stored form of `message`."""
        return cls(role=message.role, content=message.content)


def _now() -> datetime:
    return datetime.now(UTC)


class CacheRecord(BaseModel):
    """One line of the cache: the key, the exact prompt sent, the reply and when it was received."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    teacher_id: str
    example_id: str
    template_sha256: str
    sample_index: int
    prompt_messages: list[CachedMessage]
    reply: str
    created_at: datetime = Field(default_factory=_now)
    rationalized: bool = False
    temperature: float | None = None
    seed: int | None = None

    @property
    def key(self) -> CacheKey:
        """The key this record answers."""
        return CacheKey(self.teacher_id, self.example_id, self.template_sha256, self.sample_index)


class TeacherCache:
    """The JSONL file at `path`, indexed in memory once on open; thread-safe appends."""

    def __init__(self, path: Path) -> None:
        """Index every complete line of `path` (created on first `put` if missing)."""
        self.path = path
        self._lock = threading.Lock()
        self._index: dict[CacheKey, CacheRecord] = {}
        if path.exists():
            self._load()

    def __len__(self) -> int:
        """How many distinct keys are cached."""
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        """Whether `key` has a cached reply."""
        return key in self._index

    def get(self, key: CacheKey) -> str | None:
        """The cached reply for `key`, or None."""
        record = self._index.get(key)
        return None if record is None else record.reply

    def get_record(self, key: CacheKey) -> CacheRecord | None:
        """The whole cached record for `key` (prompt included), or None."""
        return self._index.get(key)

    def put(self, key: CacheKey, record: CacheRecord) -> None:
        """Append `record` as one durable line and index it under `key` (which must be the record's own)."""
        if record.key != key:
            raise ValueError(f"record is for {record.key}, not {key}")
        line = record.model_dump_json() + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as stream:
                stream.write(line)
                stream.flush()
                os.fsync(stream.fileno())
            self._index[key] = record

    def records(self) -> Iterator[CacheRecord]:
        """Every indexed record (the winning line per key), in first-seen order."""
        return iter(list(self._index.values()))

    def _load(self) -> None:
        data = self.path.read_bytes()
        complete, _, tail = data.rpartition(b"\n")
        for number, line in enumerate(complete.split(b"\n"), start=1):
            self._index_line(line, number)
        if tail.strip():
            self._repair_tail(tail, len(data) - len(tail))

    def _index_line(self, line: bytes, number: int) -> None:
        if not line.strip():
            return
        try:
            record = CacheRecord.model_validate_json(line)
        except ValidationError as exc:
            log.warning(
                "teacher_cache_bad_line", path=str(self.path), line=number, error=str(exc)[:ERROR_EXCERPT_CHARS]
            )
            return
        self._index[record.key] = record

    def _repair_tail(self, tail: bytes, offset: int) -> None:
        """A last line without its newline: keep it if it parses, else cut it off (a write interrupted mid-line)."""
        if _parses(tail):
            self._index_line(tail, -1)
            with self.path.open("ab") as stream:
                stream.write(b"\n")
            return
        log.warning("teacher_cache_truncated_line", path=str(self.path), bytes=len(tail))
        with self.path.open("r+b") as stream:
            stream.truncate(offset)


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
