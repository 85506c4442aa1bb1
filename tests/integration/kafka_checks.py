"""Reading a consumer group's committed offsets and a topic's log end, for tests that check offsets."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

POLL_S = 0.5


async def committed_and_end(bootstrap: str, group_id: str, topic: str) -> tuple[int, int]:
    """The group's committed offset and the log end offset of partition 0 of `topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    partition = TopicPartition(topic, 0)
    committed = offsets[partition].offset if partition in offsets else -1
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        end = (await consumer.end_offsets([partition]))[partition]
    finally:
        await consumer.stop()
    return committed, end


def wait_for_commit_at_end(bootstrap: str, group_id: str, topic: str, timeout_s: float) -> tuple[int, int]:
    """Poll until the committed offset reaches the log end (or time runs out); return the last reading."""
    deadline = time.monotonic() + timeout_s
    while True:
        committed, end = asyncio.run(committed_and_end(bootstrap, group_id, topic))
        if committed == end or time.monotonic() > deadline:
            return committed, end
        time.sleep(POLL_S)
