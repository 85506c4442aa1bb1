"""Poison between ordinary requests, on real Kafka and the real model: nothing stops the stream.

Every poison input gets a dead letter with its reason, every ordinary request a decision, and the
group's committed offset reaches the log end (no request is skipped, none is left behind).
"""

import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path

import pytest

from pld.traffic import Outputs, collect, produce, sample_messages
from schemas import DeadLetterReason
from tests.fixtures_services import TopicsFactory
from tests.integration.kafka_checks import wait_for_commit_at_end
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]

DECISION_TIMEOUT_S = 300.0
COMMIT_TIMEOUT_S = 60.0
POISON: dict[str, tuple[bytes, DeadLetterReason]] = {
    "huge-int": (
        b'{"id": "p1", "text": "hi", "metadata": {"n": ' + b"7" * 5000 + b"}}",
        DeadLetterReason.JSON_TOO_COMPLEX,
    ),
    "deep": (b'{"id": "p2", "text": "hi", "m": ' + b"[" * 2000 + b"]" * 2000 + b"}", DeadLetterReason.JSON_TOO_COMPLEX),
    "utf16": ('{"id": "p3", "text": "hi"}'.encode("utf-16"), DeadLetterReason.NOT_UTF8),
    "bom": ('{"id": "p4", "text": "hi"}'.encode("utf-8-sig"), DeadLetterReason.NOT_UTF8),
    "duplicate": (b'{"id": "p5", "text": "hi", "text": "ho"}', DeadLetterReason.DUPLICATE_KEY),
    "nan": (b'{"id": "p6", "text": "hi", "x": NaN}', DeadLetterReason.NOT_JSON),
    "surrogate": (b'{"id": "p7", "text": "\\udc00 hi"}', DeadLetterReason.NOT_UTF8),
    "zero-width": ('{"id": "p8", "text": "\u200b\u200b\u2060"}'.encode(), DeadLetterReason.EMPTY_TEXT),
    "760kb": (json.dumps({"id": "p9", "text": "x" * 760_000}).encode(), DeadLetterReason.TOO_LARGE),
    "schema": (b'{"id": "p10", "text": 42}', DeadLetterReason.INVALID_SCHEMA),
}


def test_poison_between_ordinary_requests_stops_nothing(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """Each poison input is dead-lettered, each ordinary request decided, and the commit reaches the log end."""
    topics = kafka_topics("poison")
    app_id = f"poison-{uuid.uuid4().hex[:8]}"
    texts = [sample["text"] for sample in sample_messages()]
    messages: list[tuple[bytes | None, bytes]] = []
    ordinary = set()
    for n, (name, (value, _reason)) in enumerate(POISON.items()):
        for k in range(2):
            request_id = f"ok-{n}-{k}"
            ordinary.add(request_id)
            messages.append(
                (request_id.encode(), json.dumps({"id": request_id, "text": texts[(2 * n + k) % 30]}).encode())
            )
        messages.append((name.encode(), value))
    asyncio.run(produce(kafka_bootstrap, topics.requests, messages))
    worker = WorkerProcess(
        env={
            **topics.worker_env(kafka_bootstrap, redis_url, app_id),
            "PLD_MAX_BATCH": "4",
        },
        log_path=tmp_path / "worker.log",
    )
    worker.start()
    try:

        def done(outputs: Outputs) -> bool:
            return (outputs.decided_ids >= ordinary and len(outputs.dead_letters) >= len(POISON)) or not worker.running

        outputs = asyncio.run(
            collect(kafka_bootstrap, topics.decisions, topics.dlq, done=done, timeout_s=DECISION_TIMEOUT_S)
        )
        committed, end = wait_for_commit_at_end(kafka_bootstrap, app_id, topics.requests, COMMIT_TIMEOUT_S)
        assert worker.running, worker.log()
    finally:
        code = worker.stop()
    assert outputs.decided_ids == ordinary, worker.log()
    by_key = {letter.original_key: letter for letter in outputs.dead_letters}
    assert Counter(letter.reason for letter in by_key.values()) == Counter(reason for _v, reason in POISON.values())
    for name, (value, reason) in POISON.items():
        letter = by_key[name.encode()]
        assert letter.reason is reason
        assert letter.original_size == len(value)
        assert letter.original_truncated == (len(value) > len(letter.original))
    assert (committed, code) == (end, 0), worker.log()
    assert "agent_crashed" not in worker.log()
