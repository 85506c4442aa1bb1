"""The circuit breaker on a real worker whose model fails every message (its context is too small for them)."""

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pld.traffic import collect, produce
from stream.prompts import default_prompt
from stream.student.budget import token_budget
from tests.conftest import StudentSettingsFactory
from tests.fixtures_services import TopicsFactory
from tests.integration.kafka_checks import wait_for_commit_at_end
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]

THRESHOLD = 3
UNHEALTHY_TIMEOUT_S = 240.0
COMMIT_TIMEOUT_S = 60.0
LONG_TEXT = "Please read this carefully, it is a long message about the community garden schedule. " * 25
ROOM_AFTER_PREFIX = 200  # KV cells past the policy's prefix: the cues and a short message fit, LONG_TEXT (~450) not


def test_messages_that_always_fail_open_the_breaker_then_go_to_the_dead_letters(
    kafka_topics: TopicsFactory,
    kafka_bootstrap: str,
    redis_url: str,
    student_settings: StudentSettingsFactory,
    tmp_path: Path,
) -> None:
    """After THRESHOLD failures in a row the breaker opens (health red, the batch held); at the cool-down a
    known-good message still decodes, so the model works and the held messages are dead-lettered: the
    partition is not held forever, every message ends in a decision or a letter, the commit reaches the end."""
    topics = kafka_topics("breaker")
    app_id = f"breaker-{uuid.uuid4().hex[:8]}"
    health_file = tmp_path / "health.json"
    n_ctx = token_budget(student_settings(), default_prompt()).prefix_tokens + ROOM_AFTER_PREFIX
    messages = [(f"long-{n}".encode(), json.dumps({"id": f"long-{n}", "text": LONG_TEXT}).encode()) for n in range(8)]
    asyncio.run(produce(kafka_bootstrap, topics.requests, messages))
    worker = WorkerProcess(
        env={
            **topics.worker_env(kafka_bootstrap, redis_url, app_id),
            "PLD_N_CTX": str(n_ctx),  # the prompt fits, these messages do not: every decode fails
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
        worker.wait_for_log("breaker_probe_passed", UNHEALTHY_TIMEOUT_S)
        outputs = asyncio.run(
            collect(
                kafka_bootstrap,
                topics.decisions,
                topics.dlq,
                done=lambda o: len(o.dead_letters) >= len(messages) or not worker.running,
                timeout_s=UNHEALTHY_TIMEOUT_S,
            )
        )
        committed, end = wait_for_commit_at_end(kafka_bootstrap, app_id, topics.requests, COMMIT_TIMEOUT_S)
        assert worker.running, worker.log()
        probe = subprocess.run(
            [sys.executable, "-m", "pld.cli", "health", "--file", str(health_file)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        code = worker.stop()
    assert outputs.decisions == []
    assert {letter.original_key for letter in outputs.dead_letters} == {key for key, _value in messages}
    assert committed == end
    assert probe.returncode == 0, probe.stdout + probe.stderr  # green again once the stream moves
    assert code == 0, worker.log()
