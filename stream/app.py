"""The Faust app: consume requests in batches, publish decisions and dead letters, then ack (at-least-once).

Offsets move only through `stream.ack`, called after every output of a batch is acknowledged by the
broker; a worker stopped mid-batch leaves that batch uncommitted and a restarted one redoes it.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast

import faust
import structlog

from stream.batch import BatchOutcome, BatchProcessor
from stream.records import IncomingRecord
from stream.settings import WorkerSettings

log = structlog.get_logger("stream.app")
RAW = "raw"


def create_app(settings: WorkerSettings, processor: BatchProcessor) -> faust.App:
    """A Faust app with one agent wired to `processor`."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        value_serializer=RAW,
        key_serializer=RAW,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        broker_commit_interval=1.0,
    )
    requests = app.topic(
        settings.requests_topic, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions
    )
    decisions = app.topic(settings.decisions_topic, key_type=bytes, value_type=bytes)
    dlq = app.topic(settings.dlq_topic, key_type=bytes, value_type=bytes)

    @app.agent(requests)
    async def moderate(stream: faust.StreamT[bytes]) -> None:
        # noack_take yields the events themselves (typed as values upstream) and leaves acking to us.
        batches = cast("faust.Stream[bytes]", stream).noack_take(settings.max_batch, within=settings.batch_within_s)
        async for events in cast("AsyncIterator[list[faust.EventT[bytes]]]", batches):
            outcome = await processor.process([_record(event) for event in events])
            await _publish(outcome, decisions, dlq)
            for event in events:
                await stream.ack(event)

    return app


def _record(event: faust.EventT[bytes]) -> IncomingRecord:
    message = event.message
    value = message.value if message.value is not None else b""
    return IncomingRecord(
        value=value, key=message.key, topic=message.topic, partition=message.partition, offset=message.offset
    )


async def _publish(outcome: BatchOutcome, decisions: faust.TopicT, dlq: faust.TopicT) -> None:
    """Send every output and wait until the broker has acknowledged each one."""
    pending: list[Awaitable[Any]] = []
    for decision in outcome.decisions:
        pending.append(
            await decisions.send(key=decision.request_id.encode(), value=decision.model_dump_json().encode())
        )
    for letter in outcome.dead_letters:
        key = f"{letter.topic}:{letter.partition}:{letter.offset}".encode()
        pending.append(await dlq.send(key=key, value=letter.model_dump_json().encode()))
    await asyncio.gather(*pending)
