"""Metrics and health over HTTP on a real worker: counters move with traffic, health turns red without Redis."""

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from ops.redis import ensure_redis, stop_redis
from pld.traffic import collect, produce, sample_messages
from tests.fixtures_services import TopicsFactory, local_redis
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]
PRIVATE_REDIS_PORT = 6392
RED_TIMEOUT_S = 40.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_count_traffic_and_health_turns_red_without_redis(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """/metrics counts requests, decisions and dead letters; /health and /readyz are 200, then 503 once Redis
    is gone, while /livez stays 200."""
    redis_url = ensure_redis(PRIVATE_REDIS_PORT)
    local_redis(redis_url).flushdb()
    topics = kafka_topics("metrics")
    port = free_port()
    worker = WorkerProcess(
        env={
            **topics.worker_env(kafka_bootstrap, redis_url, f"metrics-{uuid.uuid4().hex[:8]}"),
            "PLD_METRICS_PORT": str(port),
        },
        log_path=tmp_path / "w.log",
    )
    texts = [sample["text"] for sample in sample_messages()]
    messages = [(f"m{n}".encode(), json.dumps({"id": f"m{n}", "text": texts[n]}).encode()) for n in range(12)]
    asyncio.run(produce(kafka_bootstrap, topics.requests, [*messages, (b"bad", b"not json")]))
    worker.start()
    try:
        worker.wait_for_log("worker_ready", 240)
        asyncio.run(collect(kafka_bootstrap, topics.decisions, topics.dlq, done=lambda o: len(o.decided_ids) >= 12,
                            timeout_s=240))  # fmt: skip
        time.sleep(1)
        status, body = get(f"http://127.0.0.1:{port}/health")
        assert status == 200, body
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        assert get(f"http://127.0.0.1:{port}/livez")[0] == 200
        assert json.loads(body)["checks"] == {"model": True, "kafka": True, "redis": True}
        _status, exposition = get(f"http://127.0.0.1:{port}/metrics")
        assert "pld_requests_total 13.0" in exposition
        assert sum(_samples(exposition, "pld_decisions_total")) == 12
        assert (
            'pld_dead_letters_total{reason="not_utf8"}' in exposition or "pld_dead_letters_total{reason=" in exposition
        )
        assert "pld_prompt_version_info{" in exposition
        assert "pld_stage_seconds_bucket" in exposition
        stop_redis(PRIVATE_REDIS_PORT)
        deadline = time.monotonic() + RED_TIMEOUT_S
        while get(f"http://127.0.0.1:{port}/health")[0] != 503:
            assert time.monotonic() < deadline, "health stayed green with Redis gone"
            time.sleep(1)
        assert json.loads(get(f"http://127.0.0.1:{port}/health")[1])["checks"]["redis"] is False
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 503  # not ready without the registry's Redis ...
        assert get(f"http://127.0.0.1:{port}/livez")[0] == 200  # ... but alive: a Redis outage restarts nobody
    finally:
        worker.stop()
        stop_redis(PRIVATE_REDIS_PORT)


def _samples(exposition: str, name: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in exposition.splitlines() if line.startswith(name + "{")]
