"""Unusual but valid requests through a live worker (real Kafka, Redis and model): none can stop it.

Every poison test sends bytes the decoder rejects; this one sends what passes the schema and reaches the
code behind it: ids and tenants at their limits, naive and aware timestamps, metadata at its limits,
unicode of every class, one-character and maximal texts. Every request must be decided or dead-lettered,
the worker must never exit, and the group's committed offset must reach the log end.
"""

import asyncio
import json
import string
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pld.traffic import Outputs, collect, produce
from schemas import ModerationRequest
from schemas.limits import (
    MAX_ID_CHARS,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_VALUE_CHARS,
    MAX_TENANT_CHARS,
    MAX_TEXT_CHARS,
)
from tests.fixtures_services import TopicsFactory
from tests.integration.kafka_checks import wait_for_commit_at_end
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.model]

GENERATED_REQUESTS = 36
DECISION_TIMEOUT_S = 420.0
COMMIT_TIMEOUT_S = 60.0
ID_CHARS = string.ascii_letters + string.digits + "._:-"

ids = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(string.ascii_letters + string.digits),
    st.text(ID_CHARS, max_size=MAX_ID_CHARS - 1),
)
tenants = st.none() | st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(string.ascii_letters + string.digits),
    st.text(ID_CHARS, max_size=MAX_TENANT_CHARS - 1),
)
naive_times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1))
aware_times = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    naive_times,
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=400) | st.sampled_from(
    ["x", "\u00e9" * MAX_TEXT_CHARS, "kill " * (MAX_TEXT_CHARS // 5), "\U0001f600" * 2000, "a\u200bb\u202ec"]
)
metadata = st.dictionaries(
    st.text(min_size=1, max_size=64), st.text(max_size=MAX_METADATA_VALUE_CHARS), max_size=MAX_METADATA_ENTRIES
)


@st.composite
def valid_request(draw: st.DrawFn) -> dict[str, Any]:
    """A request the schema accepts, as a producer would send it."""
    payload: dict[str, Any] = {"id": draw(ids), "text": draw(texts), "metadata": draw(metadata)}
    tenant = draw(tenants)
    if tenant is not None:
        payload["tenant"] = tenant
    moment = draw(st.none() | naive_times | aware_times)
    if moment is not None:
        payload["created_at"] = moment.isoformat()
    return payload


EDGE_REQUESTS: list[dict[str, Any]] = [
    {"id": "naive", "text": "hello", "created_at": "2024-01-01T00:00:00"},
    {"id": "i" * MAX_ID_CHARS, "text": "hi", "tenant": "t" * MAX_TENANT_CHARS},
    {"id": "max-text", "text": "word " * (MAX_TEXT_CHARS // 5)},
    {"id": "meta", "text": "hi", "metadata": {f"k{n}": "v" * MAX_METADATA_VALUE_CHARS for n in range(32)}},
    {"id": "far-future", "text": "hi", "created_at": "2999-12-31T23:59:59+14:00"},
    {"id": "epoch", "text": "hi", "created_at": "1970-01-02T00:00:00-12:00"},
    {"id": "bidi", "text": "\u202eevil\u202c and k\u200bill"},
]


def _valid(payload: dict[str, Any]) -> bool:
    try:
        ModerationRequest.model_validate(payload)
    except ValueError:
        return False
    return True


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(generated=st.lists(valid_request().filter(_valid), min_size=GENERATED_REQUESTS, max_size=GENERATED_REQUESTS))
def test_no_valid_request_stops_the_worker(
    generated: list[dict[str, Any]], kafka_topics: TopicsFactory, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """Each schema-valid request is decided (or dead-lettered), the worker lives, the commit reaches the end."""
    topics = kafka_topics(f"valid-{uuid.uuid4().hex[:6]}")
    app_id = f"valid-{uuid.uuid4().hex[:8]}"
    requests = [{**payload, "id": f"g{n}-{payload['id']}"[:MAX_ID_CHARS]} for n, payload in enumerate(generated)]
    requests += EDGE_REQUESTS
    assert all(_valid(payload) for payload in requests)
    messages = [(None, json.dumps(payload, ensure_ascii=False).encode()) for payload in requests]
    asyncio.run(produce(kafka_bootstrap, topics.requests, messages))
    worker = WorkerProcess(
        env={**topics.worker_env(kafka_bootstrap, redis_url, app_id), "PLD_MAX_BATCH": "8"},
        log_path=tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log",
    )
    wanted = {payload["id"] for payload in requests}
    worker.start()
    try:

        def done(outputs: Outputs) -> bool:
            answered = outputs.decided_ids | {_letter_id(letter.original) for letter in outputs.dead_letters}
            return answered >= wanted or not worker.running

        outputs = asyncio.run(
            collect(kafka_bootstrap, topics.decisions, topics.dlq, done=done, timeout_s=DECISION_TIMEOUT_S)
        )
        committed, end = wait_for_commit_at_end(kafka_bootstrap, app_id, topics.requests, COMMIT_TIMEOUT_S)
        assert worker.running, worker.log()
    finally:
        code = worker.stop()
    answered = outputs.decided_ids | {_letter_id(letter.original) for letter in outputs.dead_letters}
    assert answered >= wanted, (sorted(wanted - answered)[:5], worker.log())
    assert (committed, code) == (end, 0), worker.log()
    assert "agent_crashed" not in worker.log()
    for decision in outputs.decisions:
        assert all(0.0 <= p <= 1.0 for p in decision.probabilities.values())
        assert decision.requested_at is None or decision.requested_at.tzinfo is not None


def _letter_id(original: bytes) -> str:
    try:
        return str(json.loads(original)["id"])
    except (ValueError, KeyError, TypeError):
        return ""
