"""The circuit breaker on a real worker whose model fails every message (its context is too small for them)."""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pld.traffic import collect, produce
from tests.fixtures_services import TopicsFactory
from tests.pld.kafka_checks import committed_and_end
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]

THRESHOLD = 3
UNHEALTHY_TIMEOUT_S = 240.0
LONG_TEXT = "Please read this carefully, it is a long message about the community garden schedule. " * 25


def test_a_failing_model_opens_the_breaker_instead_of_dead_lettering_the_stream(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """After THRESHOLD failures in a row the worker stops consuming, reports unhealthy and holds its batch."""
    topics = kafka_topics("breaker")
    app_id = f"breaker-{uuid.uuid4().hex[:8]}"
    health_file = tmp_path / "health.json"
    messages = [(f"long-{n}".encode(), json.dumps({"id": f"long-{n}", "text": LONG_TEXT}).encode()) for n in range(8)]
    asyncio.run(produce(kafka_bootstrap, topics.requests, messages))
    worker = WorkerProcess(
        env={
            **topics.worker_env(kafka_bootstrap, redis_url, app_id),
            "PLD_N_CTX": "512",  # the prompt fits, these messages do not: every decode fails
            "PLD_MAX_BATCH": "1",
            "PLD_BREAKER_THRESHOLD": str(THRESHOLD),
            "PLD_BREAKER_COOLDOWN_S": "1",
            "PLD_HEALTH_FILE": str(health_file),
        },
        log_path=tmp_path / "worker.log",
    )
    worker.start()
    try:
        worker.wait_for_log("circuit_open", UNHEALTHY_TIMEOUT_S)
        time.sleep(3)  # the held batch is retried after each cool-down, and fails again
        probe = subprocess.run(
            [sys.executable, "-m", "pld.cli", "health", "--file", str(health_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        outputs = asyncio.run(
            collect(kafka_bootstrap, topics.decisions, topics.dlq, done=lambda _o: False, timeout_s=3)
        )
        committed, _end = asyncio.run(committed_and_end(kafka_bootstrap, app_id, topics.requests))
        assert worker.running, worker.log()
    finally:
        code = worker.stop()
    assert probe.returncode == 1, probe.stdout + probe.stderr
    assert json.loads(probe.stdout)["status"] == "unhealthy"
    assert outputs.decisions == []
    assert len(outputs.dead_letters) == THRESHOLD - 1  # the failures before the breaker opened
    assert committed <= THRESHOLD - 1  # the held request (and all after it) stay uncommitted
    assert code == 0, worker.log()
