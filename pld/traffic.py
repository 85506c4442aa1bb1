"""Sending requests to the worker and reading back what it published (demo and tests)."""

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from distiller.moderation_gate import demo_messages
from schemas import DeadLetter, ModerationDecision

POLL_TIMEOUT_MS = 500
MAX_REQUEST_BYTES = 1_048_576


def sample_messages() -> list[dict[str, Any]]:
    """The packaged sample traffic: benign, abusive, spam-like and borderline messages (the demo gate's)."""
    return demo_messages()


def sample_texts(count: int) -> list[str]:
    """`count` message texts, cycling through the sample traffic."""
    texts = [sample["text"] for sample in sample_messages()]
    return [texts[n % len(texts)] for n in range(count)]


def sample_requests(count: int, prefix: str, **fields: str) -> list[tuple[bytes | None, bytes]]:
    """`count` requests (key, JSON value) with ids `<prefix>-<n>`, cycling through the sample texts; `fields`
    (e.g. `created_at`) go into every request."""
    return [
        (f"{prefix}-{n}".encode(), json.dumps({"id": f"{prefix}-{n}", "text": text, **fields}).encode())
        for n, text in enumerate(sample_texts(count))
    ]


async def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    options: Mapping[str, Any] | None = None,
) -> int:
    """Send (key, value) pairs and wait until the broker has them all; return how many were sent.

    `options` are the client's security options (`KafkaSecurity.client_options`)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=MAX_REQUEST_BYTES, **(options or {})
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, key=key, value=value) for key, value in messages]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(pending)


@dataclass
class Outputs:
    """What the worker published, as read back from its topics."""

    decisions: list[ModerationDecision] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    unreadable: int = 0  # records on the topics that are not valid under today's schemas (e.g. older ones)

    @property
    def decided_ids(self) -> set[str]:
        """Request ids that have at least one decision."""
        return {decision.request_id for decision in self.decisions}


async def collect(
    bootstrap: str,
    decisions_topic: str,
    dlq_topic: str,
    *,
    done: Callable[[Outputs], bool],
    timeout_s: float,
    keep: Callable[[ModerationDecision | DeadLetter], bool] = lambda _item: True,
    options: Mapping[str, Any] | None = None,
) -> Outputs:
    """Read both output topics from the start until `done(outputs)` or `timeout_s` passes."""
    consumer = AIOKafkaConsumer(
        decisions_topic,
        dlq_topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **(options or {}),
    )
    outputs = Outputs()
    deadline = time.monotonic() + timeout_s
    await consumer.start()
    try:
        while not done(outputs) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            for partition, records in batches.items():
                for record in records:
                    _add(outputs, partition.topic == decisions_topic, record.value or b"", keep)
    finally:
        await consumer.stop()
    return outputs


def _add(outputs: Outputs, is_decision: bool, value: bytes, keep: Callable[[Any], bool]) -> None:
    try:
        item: ModerationDecision | DeadLetter = (
            ModerationDecision.model_validate_json(value) if is_decision else DeadLetter.model_validate_json(value)
        )
    except ValidationError:
        outputs.unreadable += 1
        return
    if not keep(item):
        return
    if isinstance(item, ModerationDecision):
        outputs.decisions.append(item)
    else:
        outputs.dead_letters.append(item)
