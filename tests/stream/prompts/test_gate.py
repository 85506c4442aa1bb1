"""The promotion gate: like with like, refuse what is worse or unmeasured, let through what production
cannot be compared with; and `pld prompt promote` on a real registry refuses, or records a forced promotion."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date

import pytest

from schemas import EvaluationRecord, PromptVersion, ScoringMode
from stream.prompts import Pointer, starter_prompt
from stream.prompts.gate import GatePolicy, check_promotion
from tests.fixtures_services import local_registry, scratch_database

SCRATCH_DB = 11
DATA = "a" * 64
MODEL = "b" * 64


def evaluated(version: str, macro_f1: float, block_recall: float, split_sha256: str = DATA) -> PromptVersion:
    record = EvaluationRecord(
        dataset="moderation-contrast", split="test", split_sha256=split_sha256, examples=240,
        model_sha256=MODEL, model_file="qwen.gguf", scoring_mode=ScoringMode.SINGLE_PASS, decode="isolated",
        macro_f1=macro_f1, macro_f1_ci=(macro_f1 - 0.05, macro_f1 + 0.05),
        recall={"allow": 0.8, "review": 0.5, "block": block_recall},
        recall_ci={"allow": (0.7, 0.9), "review": (0.3, 0.7), "block": (block_recall - 0.1, block_recall)},
        evaluated_on=date(2026, 12, 2),
    )  # fmt: skip
    return starter_prompt().variant(version).with_evaluation(record)


def test_a_worse_or_unmeasured_candidate_is_refused_and_a_comparable_one_passes() -> None:
    production = evaluated("prod", 0.60, 0.90)
    gate = GatePolicy(margin=0.02, recall_drops={"block": 0.0})
    assert check_promotion(evaluated("same", 0.59, 0.90), production, gate).passed  # within the margin
    worse = check_promotion(evaluated("worse", 0.50, 0.90), production, gate)
    assert worse.problems == ["macro-F1 on moderation-contrast falls from 0.600 to 0.500 (more than the margin 0.020)"]
    assert check_promotion(evaluated("blocks-less", 0.70, 0.85), production, gate).problems == [
        "block recall on moderation-contrast falls from 0.900 to 0.850 (allowed 0.000)"
    ]
    assert "carries no evaluation" in check_promotion(starter_prompt().variant("bare"), production, gate).problems[0]
    other_data = check_promotion(evaluated("elsewhere", 0.9, 0.9, split_sha256="c" * 64), production, gate)
    assert "never evaluated on the same data" in other_data.problems[0]
    unmeasured_production = check_promotion(production, starter_prompt().variant("old"), gate)
    assert unmeasured_production.passed
    assert "nothing to compare" in unmeasured_production.compared[0]


@pytest.fixture
def scratch_url(redis_url: str) -> Iterator[str]:
    yield from scratch_database(redis_url, SCRATCH_DB)


@pytest.mark.integration
def test_promote_refuses_a_worse_canary_and_records_a_forced_promotion(scratch_url: str) -> None:
    """Exit 4 and nothing moves; with --force --why the canary is promoted and the signed history says so."""
    app_id = f"gate-{uuid.uuid4().hex[:8]}"
    registry = local_registry(scratch_url, namespace=app_id)
    registry.publish(evaluated("gate-v1", 0.60, 0.90), Pointer.PRODUCTION, who="test", why="start")
    worse = evaluated("gate-v2", 0.40, 0.90)
    registry.publish(worse, Pointer.CANARY, who="test", why="try", share=10.0)
    env = {**os.environ, "PLD_REDIS_URL": scratch_url, "PLD_APP_ID": app_id}

    def promote(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pld.cli", "prompt", "promote", *extra]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    refused = promote("--why", "looks fine")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "macro-F1 on moderation-contrast falls from 0.600 to 0.400" in refused.stderr
    assert (registry.deployment().production or "").startswith("gate-v1")
    assert promote("--force").returncode == 4  # --force alone is not enough: the history must say why
    forced = promote("--force", "--why", "hotfix for a live incident")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert registry.deployment().production == worse.version
    last = registry.history(limit=1)[0]
    assert "forced past the promotion gate (macro-F1 on moderation-contrast falls" in last.why
    assert last.why.endswith(": hotfix for a live incident")
