"""Creating the worker's topics up front, so producers and the worker agree on partitions."""

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

DEFAULT_REPLICATION_FACTOR = 1
LEADER_WAIT_S = 30.0  # a new topic's partitions get leaders within a second or two on a healthy cluster
LEADER_POLL_S = 0.2

log = structlog.get_logger("stream.topics")


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int,
    *,
    replication_factor: int = DEFAULT_REPLICATION_FACTOR,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Create each missing topic with `partitions` partitions; existing topics are left as they are.

    Returns once every partition of the topics it created has a leader that answers (a ListOffsets
    request, which only the partition's leader serves), so the first producer meets no
    `NotLeaderForPartitionError` retries; at most `LEADER_WAIT_S`, past that it logs and returns.
    `options` are the client's security options (`KafkaSecurity.client_options`)."""
    wanted = list(names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, replication_factor) for name in wanted if name not in existing]
        if missing:
            # Another process may create a topic between our listing and our request.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            created = await _wait_for_leaders(admin, [topic.name for topic in missing])
            await _until_leaders_answer(bootstrap, created, options)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> list[TopicPartition]:
    """The topics' partitions, once the cluster's metadata names a leader for each (or the wait is over)."""
    deadline = time.monotonic() + LEADER_WAIT_S
    while True:
        described = await admin.describe_topics(names)
        led = {_name(topic) for topic in described if _has_leaders(topic)}
        if led >= set(names) or time.monotonic() > deadline:
            if not led >= set(names):
                log.warning("topics_without_leaders", topics=sorted(set(names) - led), waited_s=LEADER_WAIT_S)
            return [
                TopicPartition(_name(topic), partition["partition"])
                for topic in described
                for partition in topic.get("partitions") or []
            ]
        await asyncio.sleep(LEADER_POLL_S)


async def _until_leaders_answer(
    bootstrap: str, partitions: list[TopicPartition], options: Mapping[str, Any] | None
) -> None:
    """Metadata names a leader before that broker serves the partition: ask each one for its end offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=int(LEADER_WAIT_S * 1000),
        **(options or {}),
    )  # fmt: skip
    await consumer.start()
    try:
        await consumer.end_offsets(partitions)
    except KafkaError as exc:  # the topics exist: producers retry on their own, only noisily
        log.warning("topic_leaders_not_answering", error=repr(exc), partitions=len(partitions))
    finally:
        await consumer.stop()


def _name(topic: Mapping[str, Any]) -> str:
    return str(topic.get("topic") or topic.get("name"))


def _has_leaders(topic: Mapping[str, Any]) -> bool:
    partitions = topic.get("partitions") or []
    return (
        topic.get("error_code") == 0
        and bool(partitions)
        and all(p.get("error_code") == 0 and p.get("leader", -1) >= 0 for p in partitions)
    )
