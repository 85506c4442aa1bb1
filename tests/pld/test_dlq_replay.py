"""`pld dlq replay` on real Kafka: chosen dead letters go back to the requests topic, whole ones only."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer

from pld.dlq import ReplayFilter, replay
from pld.traffic import produce
from schemas import DeadLetter, DeadLetterReason
from schemas.dead_letters import MAX_ORIGINAL_BYTES
from stream.settings import WorkerSettings
from tests.fixtures_services import KafkaTopics, TopicsFactory

pytestmark = [pytest.mark.integration]


def letter(original: bytes, key: bytes, reason: DeadLetterReason, rejected_at: datetime) -> bytes:
    wrapped = DeadLetter.wrap(
        original, key, reason=reason, error="test", topic="t", partition=0, offset=0, worker_id="w",
        rejected_at=rejected_at,
    )  # fmt: skip
    return wrapped.model_dump_json().encode()


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
    finally:
        await consumer.stop()
    return [(record.key, record.value or b"") for records in batches.values() for record in records]


@pytest.fixture
def topics(kafka_topics: TopicsFactory, kafka_bootstrap: str) -> KafkaTopics:
    """A DLQ holding five letters: two reasons, two times, one truncated original."""
    topics = kafka_topics("replay")
    now = datetime.now(UTC)
    week_ago = now - timedelta(days=7)
    letters = [
        (b"a", letter(b'{"id": "a"}', b"a", DeadLetterReason.INVALID_SCHEMA, now)),
        (b"b", letter(b"not json", b"b", DeadLetterReason.NOT_JSON, now)),
        (b"c", letter(b'{"id": "c"}', b"c", DeadLetterReason.INVALID_SCHEMA, week_ago)),
        (b"d", letter(b"x" * (MAX_ORIGINAL_BYTES + 1), b"d", DeadLetterReason.INVALID_SCHEMA, now)),
        (b"e", b"an unreadable record"),
    ]
    asyncio.run(produce(kafka_bootstrap, topics.dlq, letters))
    return topics


def settings_for(topics: KafkaTopics, bootstrap: str) -> WorkerSettings:
    return WorkerSettings(kafka_bootstrap=bootstrap, requests_topic=topics.requests, dlq_topic=topics.dlq)


def test_replay_by_reason_and_time_skips_truncated_originals(topics: KafkaTopics, kafka_bootstrap: str) -> None:
    """Letters of the chosen reason and time are re-sent with their keys; a truncated original is not."""
    chosen = ReplayFilter(
        reasons=frozenset({DeadLetterReason.INVALID_SCHEMA}), since=datetime.now(UTC) - timedelta(days=1)
    )
    report = asyncio.run(replay(settings_for(topics, kafka_bootstrap), chosen, dry_run=False))
    assert (report.read, report.unreadable, report.chosen, report.sent, report.skipped_truncated) == (5, 1, 2, 1, 1)
    assert asyncio.run(read_all(kafka_bootstrap, topics.requests)) == [(b"a", b'{"id": "a"}')]


def test_replay_by_key_and_dry_run(topics: KafkaTopics, kafka_bootstrap: str) -> None:
    """A dry run counts without sending; a replay by key sends exactly those letters."""
    settings = settings_for(topics, kafka_bootstrap)
    dry = asyncio.run(replay(settings, ReplayFilter(keys=frozenset({b"b", b"c"})), dry_run=True))
    assert (dry.chosen, dry.sent) == (2, 0)
    report = asyncio.run(replay(settings, ReplayFilter(keys=frozenset({b"b", b"c"})), dry_run=False))
    assert report.sent == 2
    assert sorted(asyncio.run(read_all(kafka_bootstrap, topics.requests))) == [
        (b"b", b"not json"),
        (b"c", b'{"id": "c"}'),
    ]
