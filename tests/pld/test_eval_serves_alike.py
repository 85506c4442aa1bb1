"""What is evaluated is what is served: `pld eval`'s decisions equal, bit for bit, a worker's through Kafka."""

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from distiller.eval_run import DECISIONS_FILE, SERVED_PROMPT_FILE, EvalSettings, run_eval
from pld.traffic import Outputs, collect, produce, sample_messages
from schemas import PromptVersion
from stream.prompts import starter_prompt
from tests.conftest import StudentSettingsFactory
from tests.fixtures_services import TopicsFactory, scratch_database_url
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]
SCRATCH_DB = 4  # PLD_PROMPT_FILE activates the version for every worker on its Redis: keep it off theirs

EXPECTED_LABEL = {"benign": "allow", "spam": "review", "abusive": "block"}
VARIANTS = ("", " Thanks.", " See you.")
DECISION_TIMEOUT_S = 240.0


def write_dataset(path: Path) -> Path:
    """The labelled sample messages, each in three wordings: enough rows for a dev and a test split."""
    rows = [
        {"text": sample["text"] + variant, "label": EXPECTED_LABEL[sample["metadata"]["sample_kind"]]}
        for sample in sample_messages()
        if sample["metadata"]["sample_kind"] in EXPECTED_LABEL
        for variant in VARIANTS
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_eval_decisions_equal_the_workers(
    tmp_path: Path,
    student_settings: StudentSettingsFactory,
    kafka_topics: TopicsFactory,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    """The calibrated version `pld eval` writes decides its test messages in a worker exactly as in the report."""
    prompt_file = tmp_path / "starter.json"
    prompt_file.write_text(starter_prompt().model_dump_json())
    out = tmp_path / "report"
    out.mkdir()
    student = student_settings()
    run_eval(EvalSettings(
        dataset=str(write_dataset(tmp_path / "samples.jsonl")), prompt=prompt_file, out_dir=out,
        cache_dir=tmp_path / "cache", student=student, student_name="gemma-270m", teacher=None, with_ablation=False,
    ))  # fmt: skip
    served = PromptVersion.model_validate_json((out / SERVED_PROMPT_FILE).read_text())
    assert served.calibration_for(served.calibrations[0].model_sha256, student.scoring_mode) is not None
    evaluated = [json.loads(line) for line in (out / DECISIONS_FILE).read_text().splitlines()]
    assert len(evaluated) >= 10
    [record] = served.evaluations  # what the promotion gate compares: the test scores, in the signed version
    assert (record.examples, record.model_sha256) == (len(evaluated), served.calibrations[0].model_sha256)
    for label, recall in record.recall.items():  # each label's recall, as the report's decisions give it
        gold = [row for row in evaluated if row["gold"] == label]
        hits = sum(row["label"] == label for row in gold)
        assert recall == pytest.approx(hits / len(gold) if gold else 0.0, abs=1e-4)

    topics = kafka_topics("served")
    worker = WorkerProcess(
        env={
            **topics.worker_env(
                kafka_bootstrap, scratch_database_url(redis_url, SCRATCH_DB), f"served-{uuid.uuid4().hex[:8]}"
            ),
            "PLD_PROMPT_FILE": str(out / SERVED_PROMPT_FILE),
            "PLD_PREFIX_CACHE_DIR": str(tmp_path / "worker-prefix-cache"),
        },
        log_path=tmp_path / "worker.log",
    )
    requests = [
        (f"eq-{n}".encode(), json.dumps({"id": f"eq-{n}", "text": row["text"]}).encode())
        for n, row in enumerate(evaluated)
    ]
    asyncio.run(produce(kafka_bootstrap, topics.requests, requests))
    worker.start()
    try:

        def complete(outputs: Outputs) -> bool:
            return len(outputs.decided_ids) >= len(evaluated) or not worker.running

        outputs = asyncio.run(
            collect(kafka_bootstrap, topics.decisions, topics.dlq, done=complete, timeout_s=DECISION_TIMEOUT_S)
        )
    finally:
        worker.stop()
    published = {decision.request_id: decision for decision in outputs.decisions}
    assert len(published) == len(evaluated), worker.log()
    for n, row in enumerate(evaluated):
        decision = published[f"eq-{n}"]
        assert decision.prompt_sha256 == served.sha256
        assert decision.label == row["label"]
        assert decision.probabilities == row["probabilities"]
        assert decision.instruction_ids == row["instruction_ids"]
        assert decision.instruction_scores == row["instruction_scores"]
