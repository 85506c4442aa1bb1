"""`pld dlq replay`: send chosen dead letters' original bytes back to the requests topic.

Dead letters are chosen by reason, by time (`--since` seeks with the broker's offsets-for-times, so
older parts of the topic are not read) and by original key. The read stops at the end offsets taken
when it starts, so a replay never chases its own output. A letter whose original was truncated cannot
be replayed whole: it is skipped and counted.
"""

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from pld.topic_window import read_window
from schemas import DeadLetter, DeadLetterReason
from stream.settings import WorkerSettings


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
    report = ReplayReport()
    letters: list[DeadLetter] = []
    async for record in read_window(settings, settings.dlq_topic, chosen.since):
        _consider(record.value or b"", chosen, letters, report)
    return letters, report


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
