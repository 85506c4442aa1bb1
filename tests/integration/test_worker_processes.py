"""`pld worker` with several decoding processes: they share the load, decide each request once, stop together."""

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pld.traffic import collect, produce, sample_requests
from tests.fixtures_services import KafkaTopics, TopicsFactory, scratch_database
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]
SCRATCH_DB = 12
PROCESSES = 2
MAX_BATCH = 4
REQUESTS = 60
DECISION_TIMEOUT_S = 240.0
STARTED_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 60.0
KILLED_BY_SIGKILL = 128 + signal.SIGKILL


@pytest.fixture
def scratch_redis_url(redis_url: str) -> Iterator[str]:
    yield from scratch_database(redis_url, SCRATCH_DB)


@pytest.fixture
def topics(kafka_topics: TopicsFactory) -> KafkaTopics:
    return kafka_topics("processes", partitions=PROCESSES)


@pytest.fixture
def workers(
    topics: KafkaTopics, kafka_bootstrap: str, scratch_redis_url: str, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """One `pld worker` that runs two single-threaded decoding processes (not started yet)."""
    env = {
        **topics.worker_env(kafka_bootstrap, scratch_redis_url, f"processes-{uuid.uuid4().hex[:8]}"),
        "PLD_WORKER_PROCESSES": str(PROCESSES),
        "PLD_TOPIC_PARTITIONS": str(PROCESSES),
        "PLD_WORKER_ID": "box",
        "PLD_METRICS_PORT": "0",
        "PLD_MAX_BATCH": str(MAX_BATCH),
    }
    process = WorkerProcess(env=env, log_path=tmp_path / "worker.log")
    yield process
    if process.running:
        process.stop()


def child_pids(worker: WorkerProcess) -> list[int]:
    """The children's pids, from the supervisor's `worker_processes_started` line."""
    worker.wait_for_log('"event": "worker_processes_started"', STARTED_TIMEOUT_S)
    line = next(line for line in worker.log().splitlines() if '"worker_processes_started"' in line)
    pids: list[int] = json.loads(line)["pids"]
    return pids


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text(errors="replace")


def test_two_processes_share_the_partitions_and_decide_every_request_once(
    kafka_bootstrap: str, topics: KafkaTopics, workers: WorkerProcess
) -> None:
    """60 requests over two partitions: each is decided exactly once, by both children between them, each under
    its own worker id; SIGTERM stops the supervisor and both children cleanly."""
    asyncio.run(produce(kafka_bootstrap, topics.requests, sample_requests(REQUESTS, "p")))
    workers.start()
    pids = child_pids(workers)
    outputs = asyncio.run(
        collect(
            kafka_bootstrap,
            topics.decisions,
            topics.dlq,
            done=lambda o: len(o.decided_ids) >= REQUESTS or not workers.running,
            timeout_s=DECISION_TIMEOUT_S,
        )
    )
    assert workers.stop() == 0, workers.log()
    assert outputs.decided_ids == {f"p-{n}" for n in range(REQUESTS)}, workers.log()
    # The second child joins while the first is deciding: that rebalance may hand a batch in flight to the
    # other child (at-least-once); it is decided again, the same way, and nothing else is repeated.
    assert len(outputs.decisions) - REQUESTS <= MAX_BATCH * PROCESSES, "requests were decided twice outside a rebalance"
    by_id: dict[str, set[tuple[str, tuple[float, ...]]]] = {}
    for decision in outputs.decisions:
        by_id.setdefault(decision.request_id, set()).add((decision.label, tuple(decision.probabilities.values())))
    assert all(len(outcomes) == 1 for outcomes in by_id.values()), "a repeated decision came out differently"
    assert {decision.worker_id for decision in outputs.decisions} == {"box-0", "box-1"}
    assert not any(alive(pid) for pid in pids), "a child outlived its supervisor"


def test_a_child_that_dies_takes_the_set_down_with_its_status(workers: WorkerProcess) -> None:
    """A child killed outright: the supervisor stops the other one and exits 128+9, so the machine's own
    supervisor restarts the set as it would restart one worker."""
    workers.start()
    pids = child_pids(workers)
    workers.wait_for_log('"event": "worker_ready"', STARTED_TIMEOUT_S)
    os.kill(pids[0], signal.SIGKILL)
    assert workers.process is not None
    status = workers.process.wait(EXIT_TIMEOUT_S)
    assert status == KILLED_BY_SIGKILL, workers.log()
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while alive(pids[1]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pids[1]), "the surviving child was left running"
    assert '"event": "worker_process_exited"' in workers.log()
