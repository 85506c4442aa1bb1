"""`pld audit --replay` on real Kafka: it reads the exact recorded offset or says why it cannot replay."""

import asyncio
import json
from datetime import UTC, datetime

import pytest

from pld.audit import CannotReplayError, replay
from pld.traffic import produce
from schemas import ModelId, ModerationDecision
from stream.prompts import starter_prompt
from stream.settings import WorkerSettings
from tests.fixtures_services import TopicsFactory

pytestmark = pytest.mark.integration


def recorded(request_id: str, offset: int) -> ModerationDecision:
    prompt = starter_prompt()
    return ModerationDecision(
        request_id=request_id, label="allow", probabilities={"allow": 0.5, "review": 0.3, "block": 0.2},
        scoring_mode="single_pass", prompt_version=prompt.version, prompt_sha256=prompt.sha256,
        model_id=ModelId(file_name="gemma-3-270m-q4_k_m.gguf", sha256="0" * 64), latency_ms=1.0, model_ms=1.0,
        batch_size=1, source_partition=0, source_offset=offset, decided_at=datetime.now(UTC), worker_id="w",
    )  # fmt: skip


def test_a_request_outside_the_topic_or_another_request_at_the_offset_cannot_be_replayed(
    kafka_topics: TopicsFactory, kafka_bootstrap: str
) -> None:
    """An offset the topic no longer holds, or one holding another request, is a clear 'cannot replay'."""
    topics = kafka_topics("audit")
    asyncio.run(produce(kafka_bootstrap, topics.requests, [(b"a", json.dumps({"id": "a", "text": "hi"}).encode())]))
    settings = WorkerSettings().model_copy(
        update={"kafka_bootstrap": kafka_bootstrap, "requests_topic": topics.requests}
    )
    with pytest.raises(CannotReplayError, match="retention"):
        replay(settings, recorded("a", 7), starter_prompt())
    with pytest.raises(CannotReplayError, match="holds request 'a', not 'b'"):
        replay(settings, recorded("b", 0), starter_prompt())
