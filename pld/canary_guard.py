"""`pld prompt guard`: watch a running canary and take it down by itself when it decides unlike production.

Workers hold read-only registry credentials and no signing key (they cannot steer the registry), so
the guard is a process of its own on the publisher's side: it reads the decisions topic from the moment
the canary was set, counts the canary's and production's decisions per label, and once the canary has
`min_decisions`, compares each label's share. When one differs by more than `max_label_shift` (a canary
that blocks everything, or lets everything through), it clears the canary pointer with a signed
history entry that carries the figures, logs why, and returns. Production is never touched: requests
the canary would have decided go back to production at the next batch, and nothing is lost.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from aiokafka import TopicPartition

from pld.topic_window import partitions_of, reader, seek_since
from schemas import ModerationDecision
from stream.prompts import Pointer, PromptRegistry
from stream.settings import WorkerSettings

log = structlog.get_logger("pld.canary_guard")
POLL_TIMEOUT_MS = 1000
GUARD = "pld prompt guard"


@dataclass(frozen=True)
class GuardLimits:
    """When the guard may judge, and what it will not let a canary do."""

    min_decisions: int = 50  # canary decisions (and production ones) before any verdict
    max_label_shift: float = 0.2  # largest difference of a label's share, canary against production


@dataclass
class RoleCounts:
    """Decisions per label of the canary and of production, since the canary was set."""

    canary: Counter[str] = field(default_factory=Counter)
    production: Counter[str] = field(default_factory=Counter)

    def add(self, decision: ModerationDecision, canary_version: str) -> None:
        """Count one decision if the current canary or production made it."""
        if decision.served_as == "canary" and decision.prompt_version == canary_version:
            self.canary[decision.label] += 1
        elif decision.served_as == "production":
            self.production[decision.label] += 1


@dataclass(frozen=True)
class GuardOutcome:
    """How a guard run ended: `rolled_back` with its reason, or the canary left as it was."""

    canary: str | None
    rolled_back: bool
    reason: str
    counts: RoleCounts


def verdict(counts: RoleCounts, limits: GuardLimits) -> str | None:
    """Why the canary must go, or None (too few decisions yet, or nothing out of bounds)."""
    canary_n, production_n = sum(counts.canary.values()), sum(counts.production.values())
    if canary_n < limits.min_decisions or production_n < limits.min_decisions:
        return None
    for label in sorted(set(counts.canary) | set(counts.production)):
        canary_share, production_share = counts.canary[label] / canary_n, counts.production[label] / production_n
        if abs(canary_share - production_share) > limits.max_label_shift:
            return (
                f"{label} share {canary_share:.2f} against production's {production_share:.2f} over {canary_n} "
                f"canary and {production_n} production decisions (bound {limits.max_label_shift:.2f})"
            )
    return None


def run_guard(
    settings: WorkerSettings, registry: PromptRegistry, limits: GuardLimits, timeout_s: float | None = None
) -> GuardOutcome:
    """Guard the current canary until it trips, is promoted or cleared by someone, or `timeout_s` passes."""
    return asyncio.run(_guard(settings, registry, limits, timeout_s))


async def _guard(
    settings: WorkerSettings, registry: PromptRegistry, limits: GuardLimits, timeout_s: float | None
) -> GuardOutcome:
    canary = registry.deployment().canary
    counts = RoleCounts()
    if canary is None:
        return GuardOutcome(None, rolled_back=False, reason="there is no canary to guard", counts=counts)
    since = _canary_set_at(registry, canary)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    consumer = reader(settings, offset_reset="latest")
    await consumer.start()
    try:
        topic = settings.decisions_topic
        partitions = [TopicPartition(topic, n) for n in await partitions_of(settings, topic)]
        consumer.assign(partitions)
        await seek_since(consumer, partitions, since)
        log.info("canary_guard_started", canary=canary, since=since.isoformat() if since else None)
        while deadline is None or time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            for records in batches.values():
                for record in records:
                    decision = _decision(record.value or b"")
                    if decision is not None:
                        counts.add(decision, canary)
            if registry.deployment().canary != canary:
                return GuardOutcome(canary, rolled_back=False, reason="the canary moved meanwhile", counts=counts)
            reason = verdict(counts, limits)
            if reason is not None:
                return _roll_back(registry, canary, reason, counts)
    finally:
        await consumer.stop()
    return GuardOutcome(canary, rolled_back=False, reason="no guard tripped before the timeout", counts=counts)


def _roll_back(registry: PromptRegistry, canary: str, reason: str, counts: RoleCounts) -> GuardOutcome:
    why = f"automatic canary rollback: {reason}"
    registry.move(Pointer.CANARY, None, who=GUARD, why=why)
    log.warning(
        "canary_rolled_back",
        canary=canary,
        reason=reason,
        canary_labels=dict(counts.canary),
        production_labels=dict(counts.production),
    )
    return GuardOutcome(canary, rolled_back=True, reason=why, counts=counts)


def _canary_set_at(registry: PromptRegistry, canary: str) -> datetime | None:
    """When the canary pointer last moved to `canary` (its decisions come after that)."""
    for entry in reversed(registry.history(limit=1000)):  # oldest first: the latest move wins
        if entry.pointer is Pointer.CANARY and entry.to_version == canary:
            return entry.at
    return None


def _decision(value: bytes) -> ModerationDecision | None:
    try:
        return ModerationDecision.model_validate_json(value)
    except ValueError:
        return None
