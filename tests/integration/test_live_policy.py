"""Live policy on real Kafka, Redis and the model: hot reload, rollback, Redis outages, signing, shadow, audit."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ops.redis import ensure_redis, stop_redis
from pld.traffic import Outputs, collect, produce, sample_requests
from schemas import ModerationDecision, PromptVersion, ShadowDisagreement
from stream.prompts import Pointer, starter_prompt
from stream.prompts.registry import Trust
from tests.conftest import StudentSettingsFactory
from tests.fixtures_services import (
    KafkaTopics,
    TopicsFactory,
    local_redis,
    local_registry,
    local_trust,
    scratch_database,
)
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]

SCRATCH_DB = 8
PRIVATE_REDIS_PORT = 6391  # a Redis of this test's own, so stopping it disturbs nobody
READY_TIMEOUT_S = 240.0
STREAM_TIMEOUT_S = 900.0


def v1() -> PromptVersion:
    return starter_prompt().variant("live-v1")


def v2() -> PromptVersion:
    starter = starter_prompt()
    return starter.variant("live-v2", task=starter.task + " When in doubt, hold the message for review.")


@pytest.fixture
def scratch_url(redis_url: str) -> Iterator[str]:
    yield from scratch_database(redis_url, SCRATCH_DB)


def new_app_id() -> str:
    """A consumer group, and so a registry namespace, of the test's own."""
    return f"live-{uuid.uuid4().hex[:8]}"


def start_worker(
    topics: KafkaTopics, bootstrap: str, redis_url: str, log: Path, app_id: str, **extra: str
) -> WorkerProcess:
    env = {
        **topics.worker_env(bootstrap, redis_url, app_id),
        "PLD_SHADOW_TOPIC": f"{topics.dlq}.shadow",
        "PLD_PROMPT_POLL_S": "1",
        "PLD_MAX_BATCH": "8",
        **extra,
    }
    worker = WorkerProcess(env=env, log_path=log)
    worker.start()
    worker.wait_for_log("worker_ready", READY_TIMEOUT_S)
    return worker


def read_until(bootstrap: str, topics: KafkaTopics, done: Callable[[Outputs], bool], worker: WorkerProcess) -> Outputs:
    def finished(outputs: Outputs) -> bool:
        return done(outputs) or not worker.running

    outputs = asyncio.run(collect(bootstrap, topics.decisions, topics.dlq, done=finished, timeout_s=STREAM_TIMEOUT_S))
    assert worker.running, worker.log()
    return outputs


def first_decisions(outputs: Outputs) -> dict[str, ModerationDecision]:
    first: dict[str, ModerationDecision] = {}
    for decision in outputs.decisions:
        first.setdefault(decision.request_id, decision)
    return first


def version_runs(decisions: dict[str, ModerationDecision]) -> dict[int, list[str]]:
    """Per partition, the sequence of versions in offset order with repeats collapsed."""
    by_partition: dict[int, list[ModerationDecision]] = defaultdict(list)
    for decision in decisions.values():
        assert decision.source_partition is not None
        by_partition[decision.source_partition].append(decision)
    runs = {}
    for partition, items in by_partition.items():
        versions = [d.prompt_version for d in sorted(items, key=lambda d: d.source_offset or 0)]
        runs[partition] = [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
    return runs


def test_publish_and_rollback_mid_stream_switch_once_per_partition(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, scratch_url: str, tmp_path: Path
) -> None:
    """1,000 requests; v2 published, then rolled back, mid-stream: all decided, each partition goes v1 -> v2 -> v1."""
    app_id = new_app_id()
    registry = local_registry(scratch_url, namespace=app_id)
    registry.publish(v1(), Pointer.PRODUCTION, who="test", why="start")
    topics = kafka_topics("live", partitions=2)
    asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(1000, "live")))
    worker = start_worker(topics, kafka_bootstrap, scratch_url, tmp_path / "w.log", app_id, PLD_TOPIC_PARTITIONS="2")
    try:
        read_until(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 300, worker)
        registry.publish(v2(), Pointer.PRODUCTION, who="test", why="mid-stream publish")
        read_until(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 650, worker)
        registry.rollback(who="test", why="mid-stream rollback")
        outputs = read_until(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 1000, worker)
    finally:
        assert worker.stop() == 0, worker.log()
    decisions = first_decisions(outputs)
    assert len(decisions) == 1000
    assert outputs.dead_letters == []
    for partition, runs in version_runs(decisions).items():
        assert runs == ["live-v1", "live-v2", "live-v1"], f"partition {partition}: {runs}"
    assert "policy_swapped" in worker.log()


def test_redis_down_mid_stream_loses_nothing_and_the_next_publish_is_followed(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """With the registry's Redis stopped the worker keeps deciding; after a restart it follows a new publish."""
    url = ensure_redis(PRIVATE_REDIS_PORT)
    local_redis(url).flushdb()
    app_id = new_app_id()
    registry = local_registry(url, namespace=app_id)
    registry.publish(v1(), Pointer.PRODUCTION, who="test", why="start")
    topics = kafka_topics("outage")
    worker = start_worker(topics, kafka_bootstrap, url, tmp_path / "w.log", app_id)
    try:
        asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(40, "before")))
        read_until(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 10, worker)
        stop_redis(PRIVATE_REDIS_PORT)
        asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(40, "during")))
        read_until(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 80, worker)
        ensure_redis(PRIVATE_REDIS_PORT)
        registry.publish(v2(), Pointer.PRODUCTION, who="test", why="after the outage")
        worker.wait_for_log('"production": "live-v2"', READY_TIMEOUT_S)  # staged: the next batch swaps to it
        asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(20, "after")))
        outputs = read_until(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 100, worker)
    finally:
        code = worker.stop()
        stop_redis(PRIVATE_REDIS_PORT)
    decisions = first_decisions(outputs)
    assert len(decisions) == 100, worker.log()
    assert {d.prompt_version for rid, d in decisions.items() if rid.startswith("after")} == {"live-v2"}
    assert code == 0, worker.log()


def test_unsigned_deployments_and_tampered_versions_never_serve(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, scratch_url: str, tmp_path: Path
) -> None:
    """A deployment written without the private key and a version whose signature was changed are refused
    (logged, counted, health degraded); v1 keeps serving. The worker holds the public key only."""
    app_id = new_app_id()
    signed = local_registry(scratch_url, namespace=app_id)
    signed.publish(v1(), Pointer.PRODUCTION, who="test", why="signed start")
    topics = kafka_topics("signing")
    worker = start_worker(topics, kafka_bootstrap, scratch_url, tmp_path / "w.log", app_id)
    try:
        mallory = local_registry(scratch_url, Trust(allow_unsigned=True), app_id)
        mallory.publish(v2(), Pointer.PRODUCTION, who="mallory", why="unsigned")
        worker.wait_for_log("prompt_registry_unusable", 30)
        signed.put(v2().variant("live-v3"))
        local_redis(scratch_url).hset(signed.keys.version("live-v3"), "signature", "AAAA")
        # A publisher would refuse to point at it (move verifies); one that skips the check signs the move:
        careless = local_registry(scratch_url, Trust(signer=local_trust().signer, allow_unsigned=True), app_id)
        careless.move(Pointer.PRODUCTION, "live-v3", who="test", why="a signed move to a tampered version")
        worker.wait_for_log('"refused_total": 1', 30)
        asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(20, "signed")))
        outputs = read_until(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 20, worker)
    finally:
        assert worker.stop() == 0, worker.log()
    assert {d.prompt_version for d in outputs.decisions} == {"live-v1"}
    assert "PRIVATE KEY" not in worker.log()


def test_shadow_disagreements_equal_an_offline_comparison_and_audit_replays(
    kafka_topics: TopicsFactory,
    kafka_bootstrap: str,
    scratch_url: str,
    tmp_path: Path,
    student_settings: StudentSettingsFactory,
) -> None:
    """The shadow topic holds exactly the requests on which v2 answers otherwise than v1 offline; an audited
    decision replays bit for bit."""
    app_id = new_app_id()
    registry = local_registry(scratch_url, namespace=app_id)
    registry.publish(v1(), Pointer.PRODUCTION, who="test", why="start")
    registry.publish(v2(), Pointer.SHADOW, who="test", why="compare")
    topics = kafka_topics("shadow")
    shadow_topic = f"{topics.dlq}.shadow"
    messages = sample_requests(40, "sh")
    asyncio.run(produce(kafka_bootstrap, topics.requests, messages))
    worker = start_worker(topics, kafka_bootstrap, scratch_url, tmp_path / "w.log", app_id)
    try:
        read_until(kafka_bootstrap, topics, lambda o: len(o.decided_ids) >= 40, worker)
        time.sleep(2)
    finally:
        assert worker.stop() == 0, worker.log()
    online = {d.served.request_id: d.shadow.label for d in asyncio.run(read_shadow(kafka_bootstrap, shadow_topic))}
    offline = offline_disagreements(student_settings, messages)
    assert online == offline

    env = {"PLD_KAFKA_BOOTSTRAP": kafka_bootstrap, "PLD_REDIS_URL": scratch_url, "PLD_APP_ID": app_id,
           "PLD_REQUESTS_TOPIC": topics.requests, "PLD_DECISIONS_TOPIC": topics.decisions}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pld.cli", "audit", "sh-3", "--replay"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(done.stdout)
    assert record["replay"]["reproduced"] is True
    assert record["decision"]["prompt_version"] == "live-v1"
    assert all("text" in instruction for instruction in record["instructions"])


def offline_disagreements(
    settings: StudentSettingsFactory, messages: list[tuple[bytes | None, bytes]]
) -> dict[str, str]:
    from stream.student import build_student  # noqa: PLC0415

    texts = {json.loads(value)["id"]: json.loads(value)["text"] for _key, value in messages}
    answers = {}
    for prompt in (v1(), v2()):
        student = build_student(settings(), prompt)
        try:
            answers[prompt.version] = dict(zip(texts, student.classify(list(texts.values())), strict=True))
        finally:
            student.close()
    return {
        rid: answers["live-v2"][rid].label
        for rid in texts
        if (answers["live-v1"][rid].label, set(answers["live-v1"][rid].instruction_ids))
        != (answers["live-v2"][rid].label, set(answers["live-v2"][rid].instruction_ids))
    }


async def read_shadow(bootstrap: str, topic: str) -> list[ShadowDisagreement]:
    from aiokafka import AIOKafkaConsumer  # noqa: PLC0415

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
    finally:
        await consumer.stop()
    return [ShadowDisagreement.model_validate_json(r.value or b"") for records in batches.values() for r in records]
