"""Creating the worker's topics up front, so producers and the worker agree on partitions."""

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

REPLICATION_FACTOR = 1


async def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    """Create each missing topic with `partitions` partitions; existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, REPLICATION_FACTOR) for name in names if name not in existing]
        if missing:
            # Another process may create a topic between our listing and our request.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
