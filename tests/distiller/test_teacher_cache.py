"""The teacher cache: what a rerun finds, a torn last line, a record under another key."""

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from distiller.teacher import ChatMessage
from distiller.teacher_cache import CachedMessage, CacheKey, CacheRecord, TeacherCache

# --- cache ---------------------------------------------------------------------------------------


def _record(n: int, reply: str = "Answer: stereotype") -> CacheRecord:
    return CacheRecord(
        teacher_id="fake:scripted",
        example_id=f"ex-{n}",
        template_sha256="0" * 64,
        sample_index=0,
        prompt_messages=[CachedMessage.of(ChatMessage("user", f"prompt {n}"))],
        reply=reply,
    )


def test_cache_roundtrip_survives_reopen(tmp_path: Path) -> None:
    """Records written by one cache are found by `get` and `records()` after reopening the file."""
    path = tmp_path / "sub" / "c.jsonl"
    cache = TeacherCache(path)
    for n in range(2):
        cache.put(_record(n).key, _record(n))
    reopened = TeacherCache(path)
    assert reopened.get(_record(1).key) == "Answer: stereotype"
    assert reopened.get(CacheKey("other", "ex-1", "0" * 64, 0)) is None
    assert [record.example_id for record in reopened.records()] == ["ex-0", "ex-1"]
    assert len(path.read_text().splitlines()) == 2


def test_cache_ignores_a_truncated_last_line(tmp_path: Path) -> None:
    """A half-written last line is dropped with a warning and cut off, so later appends stay readable."""
    path = tmp_path / "c.jsonl"
    cache = TeacherCache(path)
    for n in range(2):
        cache.put(_record(n).key, _record(n))
    with path.open("a") as stream:
        stream.write(_record(2).model_dump_json()[:40])
    with capture_logs() as logs:
        reopened = TeacherCache(path)
    assert len(reopened) == 2
    assert [entry["event"] for entry in logs] == ["teacher_cache_truncated_line"]
    reopened.put(_record(3).key, _record(3))
    assert [record.example_id for record in TeacherCache(path).records()] == ["ex-0", "ex-1", "ex-3"]


def test_cache_rejects_a_record_under_another_key(tmp_path: Path) -> None:
    """`put` refuses a record whose own key differs from the key it is stored under."""
    with pytest.raises(ValueError, match="record is for"):
        TeacherCache(tmp_path / "c.jsonl").put(_record(1).key, _record(2))
