"""`pld dlq replay`: send chosen dead letters' original bytes back to the requests topic.

Dead letters are chosen by reason, by time (`--since` seeks with the broker's offsets-for-times, so
older parts of the topic are not read) and by original key. The read stops at the end offsets taken
when it starts, so a replay never chases its own output. A letter whose original was truncated cannot
be replayed whole: it is skipped and counted.
"""

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from schemas import DeadLetter, DeadLetterReason
from stream.settings import WorkerSettings

POLL_TIMEOUT_MS = 500
MS_PER_S = 1000


@dataclass(frozen=True)
class ReplayFilter:
    """Which dead letters to replay; an empty criterion matches everything."""

    reasons: frozenset[DeadLetterReason] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    keys: frozenset[bytes] = frozenset()

    def matches(self, letter: DeadLetter) -> bool:
        """Whether `letter` is chosen."""
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (self.since is None or letter.rejected_at >= self.since)
            and (self.until is None or letter.rejected_at <= self.until)
            and (not self.keys or letter.original_key in self.keys)
        )


@dataclass
class ReplayReport:
    """What a replay read, chose and sent."""

    read: int = 0
    unreadable: int = 0
    chosen: int = 0
    sent: int = 0
    skipped_truncated: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)


async def replay(settings: WorkerSettings, chosen: ReplayFilter, *, dry_run: bool) -> ReplayReport:
    """Read the DLQ topic up to its current end and re-send the chosen originals (unless `dry_run`)."""
    letters, report = await _read_dead_letters(settings, chosen)
    if dry_run or not letters:
        return report
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", **settings.kafka_security.client_options()
    )
    await producer.start()
    try:
        pending = [
            await producer.send(settings.requests_topic, key=letter.original_key, value=letter.original)
            for letter in letters
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    report.sent = len(letters)
    return report


async def _read_dead_letters(settings: WorkerSettings, chosen: ReplayFilter) -> tuple[list[DeadLetter], ReplayReport]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.kafka_security.client_options(),
    )
    await consumer.start()
    report = ReplayReport()
    letters: list[DeadLetter] = []
    try:
        partitions = [TopicPartition(settings.dlq_topic, n) for n in await partitions_of(settings, settings.dlq_topic)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await seek_since(consumer, partitions, chosen.since)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=POLL_TIMEOUT_MS)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        _consider(record.value or b"", chosen, letters, report)
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return letters, report


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


def _consider(value: bytes, chosen: ReplayFilter, letters: list[DeadLetter], report: ReplayReport) -> None:
    report.read += 1
    try:
        letter = DeadLetter.model_validate_json(value)
    except ValidationError:
        report.unreadable += 1
        return
    if not chosen.matches(letter):
        return
    report.chosen += 1
    report.by_reason[letter.reason.value] += 1
    if letter.original_truncated:
        report.skipped_truncated += 1
        return
    letters.append(letter)
