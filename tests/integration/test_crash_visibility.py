"""A worker that dies says why: faulthandler stacks in its log, and `pld demo` reports the death."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from stream.student.self_test import FAULT_ENV
from tests.fixtures_services import KafkaTopics, TopicsFactory
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration]

READY_TIMEOUT_S = 180.0
DEMO_TIMEOUT_S = 300


def worker_env(topics: KafkaTopics, kafka_bootstrap: str, redis_url: str) -> dict[str, str]:
    return {
        **topics.worker_env(kafka_bootstrap, redis_url, f"crash-{uuid.uuid4().hex[:8]}"),
        "PYTHONUNBUFFERED": "1",
    }


def wait_for(condition: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.mark.model
def test_a_segfaulting_worker_leaves_its_stacks_in_the_log(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """SIGSEGV in a serving worker kills it (a supervisor sees signal 11) and its log holds the Python stacks."""
    worker = WorkerProcess(
        env=worker_env(kafka_topics("crash"), kafka_bootstrap, redis_url), log_path=tmp_path / "w.log"
    )
    worker.start()
    try:
        wait_for(lambda: "worker_ready" in worker.log() or not worker.running, READY_TIMEOUT_S)
        assert worker.running, worker.log()
        assert worker.process is not None
        os.kill(worker.process.pid, signal.SIGSEGV)
        returncode = worker.process.wait(60)
    finally:
        if worker.running:
            worker.stop()
    assert returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in worker.log()


def test_demo_reports_a_worker_that_died(
    kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """When the worker cannot run, `pld demo` prints its exit status and last log lines and exits non-zero."""
    topics = kafka_topics("demo-crash")
    env = {
        **os.environ,
        **worker_env(topics, kafka_bootstrap, redis_url),
        FAULT_ENV: "segv",
        "PLD_KAFKA_PORT": kafka_bootstrap.rsplit(":", 1)[1],
        "PLD_REDIS_PORT": redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0],
    }
    done = subprocess.run(
        [sys.executable, "-m", "pld.cli", "demo", "--timeout", "240"],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "The worker exited with status 3 before the samples were decided." in done.stdout
    assert "llama.cpp self-test crashed with SIGSEGV" in done.stdout
    assert "missing" not in done.stdout
