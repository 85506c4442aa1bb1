"""A worker always stops, and a crashed agent takes the worker down with a non-zero status.

SIGTERM ends a worker within STOP_BOUND_S whether it is idle, in the middle of a batch or of a
rebalance; an agent crash (injected with PLD_FAULT_AGENT_CRASH_KEY) ends it by itself, unacked.
"""

import asyncio
import uuid
from pathlib import Path

import pytest

from pld.traffic import Outputs, collect, produce, sample_requests
from stream.faults import AGENT_CRASH_KEY_ENV
from stream.worker import EXIT_AGENT_CRASHED
from tests.fixtures_services import KafkaTopics, TopicsFactory
from tests.integration.kafka_checks import committed_and_end
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]

STOP_BOUND_S = 30.0
READY_TIMEOUT_S = 240.0


def make_worker(topics: KafkaTopics, kafka_bootstrap: str, redis_url: str, log: Path, **extra: str) -> WorkerProcess:
    env = {
        **topics.worker_env(kafka_bootstrap, redis_url, extra.pop("app_id", f"stops-{uuid.uuid4().hex[:8]}")),
        **extra,
    }
    return WorkerProcess(env=env, log_path=log)


def test_an_idle_worker_stops(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """SIGTERM with nothing to do: a clean exit (status 0) within the bound."""
    worker = make_worker(kafka_topics("idle"), kafka_bootstrap, redis_url, tmp_path / "w.log")
    worker.start()
    worker.wait_for_log("worker_ready", READY_TIMEOUT_S)
    code, seconds = worker.timed_stop(STOP_BOUND_S + 10)
    assert (code, seconds < STOP_BOUND_S) == (0, True), worker.log()


def test_a_worker_stops_mid_batch(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """SIGTERM while batches are being decided: the worker exits within the bound, mid-stream."""
    topics = kafka_topics("midbatch")
    asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(200, "mb")))
    worker = make_worker(topics, kafka_bootstrap, redis_url, tmp_path / "w.log")
    worker.start()
    worker.wait_for_log('"event": "batch"', READY_TIMEOUT_S)
    code, seconds = worker.timed_stop(STOP_BOUND_S + 10)
    assert seconds < STOP_BOUND_S, worker.log()
    assert code == 0, worker.log()
    decided = asyncio.run(collect(kafka_bootstrap, topics.decisions, topics.dlq, done=lambda _o: False, timeout_s=3))
    assert 0 < len(decided.decided_ids) < 200


def test_workers_stop_mid_rebalance(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """A second worker joins the group under load; SIGTERM to both while the group rebalances: both exit in time."""
    topics = kafka_topics("rebalance", partitions=2)
    asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(300, "rb")))
    app_id = f"rebalance-{uuid.uuid4().hex[:8]}"
    first = make_worker(topics, kafka_bootstrap, redis_url, tmp_path / "a.log", app_id=app_id, PLD_TOPIC_PARTITIONS="2")
    second = make_worker(
        topics, kafka_bootstrap, redis_url, tmp_path / "b.log", app_id=app_id, PLD_TOPIC_PARTITIONS="2"
    )
    first.start()
    first.wait_for_log('"event": "batch"', READY_TIMEOUT_S)
    second.start()
    try:
        second.wait_for_log("worker_ready", READY_TIMEOUT_S)  # it joins the group right after: a rebalance
    finally:
        assert first.process is not None
        assert second.process is not None
        first.process.terminate()
        second.process.terminate()
        results = [worker.timed_stop(STOP_BOUND_S + 10) for worker in (first, second)]
    for (code, seconds), worker in zip(results, (first, second), strict=True):
        assert seconds < STOP_BOUND_S, worker.log()
        assert code in {0, 75}, worker.log()  # 75: it hit its own stop deadline and exited by force


def test_an_agent_crash_stops_the_worker_and_commits_nothing_past_it(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """An agent that crashes takes the worker down (status 70, no SIGTERM needed); a restart decides the batch."""
    topics = kafka_topics("crash")
    app_id = f"crash-{uuid.uuid4().hex[:8]}"
    crash_key = "please-crash"
    messages = [*sample_requests(3, "before"), (crash_key.encode(), b'{"id": "boom", "text": "hello"}')]
    asyncio.run(produce(kafka_bootstrap, topics.requests, messages))
    worker = make_worker(
        topics, kafka_bootstrap, redis_url, tmp_path / "w.log", app_id=app_id, **{AGENT_CRASH_KEY_ENV: crash_key}
    )
    worker.start()
    assert worker.process is not None
    code = worker.process.wait(READY_TIMEOUT_S)
    assert code == EXIT_AGENT_CRASHED, worker.log()
    assert "agent_crashed" in worker.log()
    committed, _end = asyncio.run(committed_and_end(kafka_bootstrap, app_id, topics.requests))
    assert committed < len(messages)

    healthy = make_worker(topics, kafka_bootstrap, redis_url, tmp_path / "w2.log", app_id=app_id)
    healthy.start()
    try:

        def done(outputs: Outputs) -> bool:
            return "boom" in outputs.decided_ids or not healthy.running

        outputs = asyncio.run(collect(kafka_bootstrap, topics.decisions, topics.dlq, done=done, timeout_s=240))
    finally:
        assert healthy.stop() == 0, healthy.log()
    assert "boom" in outputs.decided_ids
