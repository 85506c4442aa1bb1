"""End to end on real Kafka, real Redis and the real model: nothing lost, bad input dead-lettered, restart-safe."""

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pld.traffic import Outputs, collect, produce, sample_messages
from schemas import DeadLetterReason
from stream.prompts import default_prompt
from tests.fixtures_services import KafkaTopics, TopicsFactory, scratch_database
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]
SCRATCH_DB = 6

VALID_COUNT = 50
SMALL_BATCH = 2  # small batches make the run long enough to stop the worker in the middle of it
DECISION_TIMEOUT_S = 240.0
MALFORMED: dict[bytes, DeadLetterReason] = {
    b"definitely not json": DeadLetterReason.NOT_JSON,
    b'{"id": "m-2"}': DeadLetterReason.INVALID_SCHEMA,
    b'{"id": "m-3", "text": "   "}': DeadLetterReason.EMPTY_TEXT,
    b'{"id": "m 4", "text": "bad id"}': DeadLetterReason.INVALID_SCHEMA,
    b"\xff\xfe\x00 binary": DeadLetterReason.NOT_UTF8,
}


@pytest.fixture
def topics(kafka_topics: TopicsFactory) -> KafkaTopics:
    return kafka_topics("e2e")


@pytest.fixture
def scratch_redis_url(redis_url: str) -> Iterator[str]:
    """An empty Redis database: the worker seeds it with the default policy, whatever others left active."""
    yield from scratch_database(redis_url, SCRATCH_DB)


@pytest.fixture
def worker(
    topics: KafkaTopics, kafka_bootstrap: str, scratch_redis_url: str, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """A worker on this test's topics and its own consumer group (not started yet)."""
    env = {
        **topics.worker_env(kafka_bootstrap, scratch_redis_url, f"e2e-{uuid.uuid4().hex[:8]}"),
        "PLD_MAX_BATCH": str(SMALL_BATCH),
        "PLD_BATCH_WITHIN_S": "0.05",
    }
    process = WorkerProcess(env=env, log_path=tmp_path / "worker.log")
    yield process
    if process.running:
        process.stop()


def requests() -> list[tuple[bytes, bytes]]:
    """50 valid requests (the sample traffic, cycled) with unique ids, then the malformed ones."""
    samples = sample_messages()
    valid = []
    for n in range(VALID_COUNT):
        sample = samples[n % len(samples)]
        body = {"id": f"e2e-{n:03d}", "text": sample["text"], "metadata": sample["metadata"]}
        valid.append((body["id"].encode(), json.dumps(body).encode()))
    malformed = [(f"bad-{n}".encode(), value) for n, value in enumerate(MALFORMED)]
    # Interleave the malformed messages so the worker meets them mid-stream.
    for position, item in zip((3, 11, 20, 33, 47), malformed, strict=True):
        valid.insert(position, item)
    return valid


def complete(outputs: Outputs) -> bool:
    return len(outputs.decided_ids) >= VALID_COUNT and len(outputs.dead_letters) >= len(MALFORMED)


def read_outputs(bootstrap: str, topics: KafkaTopics, done: object, timeout_s: float) -> Outputs:
    return asyncio.run(collect(bootstrap, topics.decisions, topics.dlq, done=done, timeout_s=timeout_s))  # type: ignore[arg-type]


def test_all_decisions_and_dead_letters_survive_a_restart(
    kafka_bootstrap: str, topics: KafkaTopics, worker: WorkerProcess
) -> None:
    """55 messages in; after a stop and restart mid-stream, exactly the 50 valid ids are decided and 5 dead-lettered."""
    asyncio.run(produce(kafka_bootstrap, topics.requests, requests()))
    worker.start()
    before = read_outputs(kafka_bootstrap, topics, lambda o: len(o.decided_ids) > 0 or not worker.running, 180.0)
    assert worker.stop() == 0, worker.log()
    stopped_at = read_outputs(kafka_bootstrap, topics, lambda _o: False, 2.0)
    assert before.decided_ids, worker.log()
    assert len(stopped_at.decided_ids) < VALID_COUNT, "the worker finished before it could be stopped mid-stream"

    worker.start()
    outputs = read_outputs(kafka_bootstrap, topics, complete, DECISION_TIMEOUT_S)
    assert worker.stop() == 0, worker.log()

    expected_ids = {f"e2e-{n:03d}" for n in range(VALID_COUNT)}
    assert outputs.decided_ids == expected_ids
    duplicates = len(outputs.decisions) - len(outputs.decided_ids)
    assert duplicates <= SMALL_BATCH, f"{duplicates} decisions were repeated after the restart"
    assert Counter(letter.reason for letter in outputs.dead_letters) == Counter(MALFORMED.values())
    assert {letter.original for letter in outputs.dead_letters} == set(MALFORMED)
    prompt = default_prompt()
    for decision in outputs.decisions:
        decision.check_against(prompt)
    assert '"event": "batch"' in worker.log()
