"""Creating the worker's topics up front, so producers and the worker agree on partitions."""

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

DEFAULT_REPLICATION_FACTOR = 1


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int,
    *,
    replication_factor: int = DEFAULT_REPLICATION_FACTOR,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Create each missing topic with `partitions` partitions; existing topics are left as they are.

    `options` are the client's security options (`KafkaSecurity.client_options`)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, replication_factor) for name in names if name not in existing]
        if missing:
            # Another process may create a topic between our listing and our request.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
