"""`pld prompt guard` on real Kafka, Redis and the model: a canary that blocks everything is taken down by
itself, with the figures in the signed history; nothing is lost and production decisions never change."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from pld.impact import decide
from pld.traffic import Outputs, collect, produce, sample_requests
from schemas import LabelCalibration, ModerationDecision, PromptVersion, ScoringMode
from stream.prompts import Pointer, starter_prompt
from stream.settings import WorkerSettings
from stream.student import checked_model_file
from tests.conftest import StudentSettingsFactory
from tests.fixtures_services import TopicsFactory, local_registry, scratch_database
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]
SCRATCH_DB = 12
READY_TIMEOUT_S = 240.0
STREAM_TIMEOUT_S = 600.0


@pytest.fixture
def scratch_url(redis_url: str) -> Iterator[str]:
    yield from scratch_database(redis_url, SCRATCH_DB)


def blocks_everything(base: PromptVersion, model_sha256: str, mode: ScoringMode) -> PromptVersion:
    """A deliberately bad version: a calibration that pushes every message to block."""
    bias = LabelCalibration(
        model_sha256=model_sha256, scoring_mode=mode, label_biases={"allow": 0.0, "review": 0.0, "block": 50.0},
        dev_split="none: a broken version for the guard test", dev_examples=1, dev_sha256="0" * 64,
        dev_macro_f1=0.0, fitted_on=date(2026, 12, 2),
    )  # fmt: skip
    return base.variant("guard-bad").with_calibration(bias)


def test_a_canary_that_blocks_everything_is_rolled_back_by_the_guard(
    kafka_topics: TopicsFactory,
    kafka_bootstrap: str,
    scratch_url: str,
    student_settings: StudentSettingsFactory,
    tmp_path: Path,
) -> None:
    app_id = f"guard-{uuid.uuid4().hex[:8]}"
    registry = local_registry(scratch_url, namespace=app_id)
    production = starter_prompt().variant("guard-v1")
    student = student_settings()
    bad = blocks_everything(production, checked_model_file(student).sha256, student.scoring_mode)
    registry.publish(production, Pointer.PRODUCTION, who="test", why="start")
    registry.publish(bad, Pointer.CANARY, who="test", why="try the broken one", share=50.0)
    topics = kafka_topics("guard", partitions=2)
    env = {**topics.worker_env(kafka_bootstrap, scratch_url, app_id), "PLD_PROMPT_POLL_S": "1", "PLD_MAX_BATCH": "8"}
    worker = WorkerProcess(env=env, log_path=tmp_path / "worker.log")
    worker.start()
    try:
        worker.wait_for_log("worker_ready", READY_TIMEOUT_S)
        guard_env = {**os.environ, **env, "PLD_CANARY_MIN_DECISIONS": "8"}
        guard = subprocess.Popen(
            [sys.executable, "-m", "pld.cli", "prompt", "guard", "--timeout", "400"],
            env=guard_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        first = sample_requests(48, "guard-a")
        asyncio.run(produce(kafka_bootstrap, topics.requests, first))
        out, err = guard.communicate(timeout=450)
        assert guard.returncode == 0, out + err
        report = json.loads(out)
        assert report["rolled_back"] is True, report
        assert report["canary"] == bad.version
        assert set(report["canary_labels"]) == {"block"}  # it blocked everything it decided
        time.sleep(3)  # the workers follow the cleared pointer at their next poll (1 s) or notice
        second = sample_requests(24, "guard-b")
        asyncio.run(produce(kafka_bootstrap, topics.requests, second))
        wanted = {json.loads(value)["id"] for _key, value in [*first, *second]}

        def done(outputs: Outputs) -> bool:
            return wanted <= outputs.decided_ids or not worker.running

        outputs = asyncio.run(
            collect(kafka_bootstrap, topics.decisions, topics.dlq, done=done, timeout_s=STREAM_TIMEOUT_S)
        )
        assert worker.running, worker.log()
    finally:
        worker.stop()
    decided = {d.request_id: d for d in outputs.decisions}
    assert wanted <= set(decided)  # nothing lost
    assert all(decided[rid].served_as == "production" for rid in (json.loads(v)["id"] for _k, v in second))
    entry = registry.history(limit=1)[0]
    assert (entry.pointer, entry.to_version, entry.who) == (Pointer.CANARY, None, "pld prompt guard")
    assert entry.why.startswith("automatic canary rollback: ")
    assert " canary and " in entry.why  # the figures are recorded
    assert entry.why.endswith(f"(bound {0.2:.2f})")
    settings = WorkerSettings(**student.model_dump())
    by_production = [d for d in decided.values() if d.served_as == "production"]
    offline = decide(settings, production, [_text(d, [*first, *second]) for d in by_production])
    assert [d.label for d in by_production] == [answer.label for answer in offline]  # production never changed


def _text(decision: ModerationDecision, messages: list[tuple[bytes | None, bytes]]) -> str:
    return str(next(json.loads(v)["text"] for _k, v in messages if json.loads(v)["id"] == decision.request_id))
