"""Reading a topic's records from a point in time up to where the topic ended when the read began.

`pld audit`, `pld dlq replay` and `pld prompt impact` read a window of a topic this way: every partition
from its first record at or after `since` (the beginning when None) to its end offset at the start, so
the read finishes even while workers keep writing. `pld prompt guard` follows a topic live instead, with
the same `partitions_of` and `seek_since`.
"""

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream.settings import WorkerSettings

POLL_TIMEOUT_MS = 1000
MS_PER_S = 1000


async def read_window(
    settings: WorkerSettings, topic: str, since: datetime | None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from `since` to the end offsets taken when the read began, partition by partition."""
    consumer = reader(settings, offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, n) for n in await partitions_of(settings, topic)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await seek_since(consumer, partitions, since)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=POLL_TIMEOUT_MS)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


def reader(settings: WorkerSettings, offset_reset: str) -> AIOKafkaConsumer:
    """A consumer of no group that commits nothing: it reads where it is told (`offset_reset`: where a
    partition without that position starts; "none" raises instead)."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset=offset_reset,
        **settings.kafka_security.client_options(),
    )


async def partitions_of(settings: WorkerSettings, topic: str) -> list[int]:
    """A topic's partition numbers (a consumer only knows the metadata of topics it subscribed to)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **settings.kafka_security.client_options())
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(partition["partition"] for partition in description["partitions"])


async def seek_since(consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition], since: datetime | None) -> None:
    """Position each partition at its first record at or after `since` (the beginning when None)."""
    if since is None:
        await consumer.seek_to_beginning(*partitions)
        return
    found = await consumer.offsets_for_times({tp: int(since.timestamp() * MS_PER_S) for tp in partitions})
    for tp in partitions:
        stamp = found.get(tp)
        if stamp is None:
            await consumer.seek_to_end(tp)
        else:
            consumer.seek(tp, stamp.offset)
