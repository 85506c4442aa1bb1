"""Faults on real services: a worker SIGKILLed mid-batch, the broker restarted mid-stream, a rebalance.

Each run ends with every request decided, and duplicates (at-least-once) only of the same request id
with the same decision.
"""

import asyncio
import os
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.kafka import ensure_kafka, stop_kafka
from pld.traffic import Outputs, collect, produce, sample_requests
from tests.fixtures_services import KafkaTopics, TopicsFactory, _create_topics
from tests.ops.helpers import free_port_triple
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]
READY_TIMEOUT_S = 240.0
FINISH_TIMEOUT_S = 600.0


def worker_for(
    topics: KafkaTopics, bootstrap: str, redis_url: str, app_id: str, log: Path, **extra: str
) -> WorkerProcess:
    env = {
        **topics.worker_env(bootstrap, redis_url, app_id),
        "PLD_MAX_BATCH": "8",
        "PLD_METRICS_PORT": "0",
        **extra,
    }
    return WorkerProcess(env=env, log_path=log)


def read(bootstrap: str, topics: KafkaTopics, done: Callable[[Outputs], bool], timeout_s: float) -> Outputs:
    return asyncio.run(collect(bootstrap, topics.decisions, topics.dlq, done=done, timeout_s=timeout_s))


def assert_complete_and_consistent(outputs: Outputs, count: int, prefix: str) -> int:
    """Every request decided; a repeated decision equals the first; return how many were repeated."""
    assert outputs.decided_ids == {f"{prefix}-{n}" for n in range(count)}
    by_id = defaultdict(list)
    for decision in outputs.decisions:
        by_id[decision.request_id].append((decision.label, decision.probabilities, decision.instruction_ids))
    for request_id, answers in by_id.items():
        assert all(answer == answers[0] for answer in answers), f"{request_id} was decided differently"
    return len(outputs.decisions) - len(by_id)


def test_sigkill_mid_batch_then_restart(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """A worker killed without warning leaves its batch uncommitted; the next one decides everything."""
    topics = kafka_topics("kill")
    app_id = f"kill-{uuid.uuid4().hex[:8]}"
    asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(120, "kill")))
    first = worker_for(topics, kafka_bootstrap, redis_url, app_id, tmp_path / "a.log")
    first.start()
    first.wait_for_log('"event": "batch"', READY_TIMEOUT_S)
    assert first.process is not None
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(30)
    second = worker_for(topics, kafka_bootstrap, redis_url, app_id, tmp_path / "b.log")
    second.start()
    try:
        outputs = read(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 120, FINISH_TIMEOUT_S)
    finally:
        assert second.stop() == 0, second.log()
    assert_complete_and_consistent(outputs, 120, "kill")


def test_broker_stopped_and_restarted_mid_stream(redis_url: str, tmp_path: Path) -> None:
    """With the broker down for a while the worker retries; after the restart every request is decided."""
    port = free_port_triple()
    bootstrap = ensure_kafka(port)
    try:
        suffix = uuid.uuid4().hex[:8]
        topics = KafkaTopics(f"outage.requests.{suffix}", f"outage.decisions.{suffix}", f"outage.dlq.{suffix}")
        asyncio.run(_create_topics(bootstrap, topics.names, 1))
        asyncio.run(produce(bootstrap, topics.requests, sample_requests(100, "outage")))
        worker = worker_for(topics, bootstrap, redis_url, f"outage-{suffix}", tmp_path / "w.log")
        worker.start()
        try:
            worker.wait_for_log('"event": "batch"', READY_TIMEOUT_S)
            stop_kafka(port)
            time.sleep(8)
            assert worker.running, worker.log()
            ensure_kafka(port)
            outputs = read(bootstrap, topics, lambda o: len(o.decided_ids) >= 100, FINISH_TIMEOUT_S)
        finally:
            worker.stop()
        assert_complete_and_consistent(outputs, 100, "outage")
    finally:
        stop_kafka(port)


def test_a_worker_joins_and_leaves_mid_stream(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """Two rebalances (a second worker joins, later leaves) while the stream flows: nothing lost."""
    topics = kafka_topics("rejoin", partitions=2)
    app_id = f"rejoin-{uuid.uuid4().hex[:8]}"
    asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(200, "rejoin")))
    extra = {"PLD_TOPIC_PARTITIONS": "2"}
    first = worker_for(topics, kafka_bootstrap, redis_url, app_id, tmp_path / "a.log", **extra)
    second = worker_for(topics, kafka_bootstrap, redis_url, app_id, tmp_path / "b.log", **extra)
    first.start()
    try:
        first.wait_for_log('"event": "batch"', READY_TIMEOUT_S)
        second.start()
        second.wait_for_log('"event": "batch"', READY_TIMEOUT_S)
        assert second.stop() == 0, second.log()
        outputs = read(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 200, FINISH_TIMEOUT_S)
    finally:
        assert first.stop() == 0, first.log()
    assert_complete_and_consistent(outputs, 200, "rejoin")
