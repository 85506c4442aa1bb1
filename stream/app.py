"""The Faust app: consume requests in batches, publish decisions and dead letters, then ack (at-least-once).

Offsets move only through `stream.ack`, called after every output of a batch is acknowledged by the
broker. A batch is never skipped: a failure while processing or publishing retries the whole batch
with backoff (its outputs may then be published twice, with the same request ids and decisions), and
an open circuit breaker holds the batch until the model answers again. A worker stopped mid-batch
leaves that batch uncommitted and a restarted one redoes it. Anything that still escapes the agent is
a bug: it is handed to `on_crash`, which stops the worker with a non-zero exit status, so a
supervisor restarts it instead of it idling alive (faust would otherwise leave a crashed agent dead).
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import faust
import structlog
from faust.types import TP

from schemas import ShadowDisagreement
from stream.batch import BatchOutcome, BatchProcessor
from stream.breaker import CircuitOpenError
from stream.decoding import IncomingRecord
from stream.faults import inject_agent_crash_if_asked
from stream.health import Component, HealthFile, HealthStatus
from stream.metrics import WorkerMetrics
from stream.policy import ServingPolicy
from stream.settings import WorkerSettings
from stream.shadow import ShadowComparer, ShadowLimits

log = structlog.get_logger("stream.app")
RAW = "raw"
RETRY_BASE_S = 0.5
RETRY_MAX_S = 30.0
HEALTH_TIMER_S = 5.0
DEFAULT_PUBLISH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AppHooks:
    """What the agent reports to and asks of the worker around it."""

    health: HealthFile
    next_policy: Callable[[], ServingPolicy]  # asked once per batch: hot reload happens between batches
    on_crash: Callable[[BaseException], None]
    metrics: WorkerMetrics


def create_app(settings: WorkerSettings, processor: BatchProcessor, hooks: AppHooks) -> faust.App:
    """A Faust app with one agent wired to `processor`."""
    health, next_policy, on_crash, metrics = hooks.health, hooks.next_policy, hooks.on_crash, hooks.metrics
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        value_serializer=RAW,
        key_serializer=RAW,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.kafka_replication_factor,
        broker_credentials=settings.kafka_security.faust_credentials(),
        broker_commit_interval=1.0,
        producer_request_timeout=settings.publish_timeout_s,  # faust's default is 1,200 s: a silent stall
        # Do not wait for unacked events at a stop or rebalance: a held batch (open breaker, retries)
        # would block both until the stop deadline. Unacked means uncommitted: the batch is redone.
        stream_wait_empty=False,
    )
    requests = app.topic(
        settings.requests_topic, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions
    )
    outputs = Outputs(
        app.topic(settings.decisions_topic, key_type=bytes, value_type=bytes),
        app.topic(settings.dlq_topic, key_type=bytes, value_type=bytes),
        app.topic(settings.shadow_topic, key_type=bytes, value_type=bytes),
    )
    limits = HandlerLimits(settings.breaker_cooldown_s, settings.publish_timeout_s, settings.retries_before_unhealthy)
    shadow_limits = ShadowLimits(budget_s=settings.shadow_budget_s)
    shadow = ShadowComparer(shadow_limits, metrics, outputs.publish_shadow)
    handler = BatchHandler(processor, outputs, health, limits, metrics, shadow=shadow)
    watchdog = ProgressWatchdog(handler, health, metrics, settings.progress_timeout_s)

    @app.agent(requests)
    async def moderate(stream: faust.StreamT[bytes]) -> None:
        # noack_take yields the events themselves (typed as values upstream) and leaves acking to us.
        batches = cast("faust.Stream[bytes]", stream).noack_take(settings.max_batch, within=settings.batch_within_s)
        try:
            async for events in cast("AsyncIterator[list[faust.EventT[bytes]]]", batches):
                records = [_record(event) for event in events]
                inject_agent_crash_if_asked(records)
                await handler.handle(records, next_policy())
                for event in events:
                    await stream.ack(event)
                _record_lag(app, records, metrics)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.critical("agent_crashed", error=repr(exc), exc_info=True)
            on_crash(exc)

    @app.on_before_shutdown.connect
    async def drain_shadow(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
        # The consumer has stopped and the producer is flushed next: comparisons in flight still get out.
        await shadow.drain()
        shadow.close()

    @app.timer(HEALTH_TIMER_S)  # type: ignore[untyped-decorator]  # faust's timer decorator is untyped
    async def heartbeat() -> None:
        watchdog.check()
        health.heartbeat()

    return app


class Outputs:
    """The output topics, and publishing with broker acknowledgements."""

    def __init__(self, decisions: faust.TopicT, dlq: faust.TopicT, shadow: faust.TopicT) -> None:
        self._decisions = decisions
        self._dlq = dlq
        self._shadow = shadow

    async def publish(self, outcome: BatchOutcome, timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S) -> None:
        """Send every output and wait until the broker has acknowledged each one, at most `timeout_s`."""
        await asyncio.wait_for(self._send_all(outcome), timeout_s)

    async def publish_shadow(self, disagreements: list[ShadowDisagreement]) -> None:
        """Send the shadow's disagreements with one batch and wait for the broker's acknowledgements."""
        pending = [
            await self._shadow.send(key=item.served.key.encode(), value=item.model_dump_json().encode())
            for item in disagreements
        ]
        await asyncio.gather(*pending)

    async def _send_all(self, outcome: BatchOutcome) -> None:
        """Every decision and dead letter, each acknowledged by the broker."""
        pending: list[Awaitable[Any]] = []
        for decision in outcome.decisions:
            value = decision.model_dump_json().encode()
            pending.append(await self._decisions.send(key=decision.key.encode(), value=value))
        for letter in outcome.dead_letters:
            pending.append(await self._dlq.send(key=letter.key.encode(), value=letter.model_dump_json().encode()))
        await asyncio.gather(*pending)


@dataclass(frozen=True)
class HandlerLimits:
    """How long a batch may wait for what: the open breaker's pause, the broker's acks, retries before red."""

    cooldown_s: float = 30.0
    publish_timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S
    retries_before_unhealthy: int = 5


class BatchHandler:
    """Processes and publishes one batch until it succeeds; only cancellation (a stop) interrupts it."""

    def __init__(
        self,
        processor: BatchProcessor,
        outputs: Outputs,
        health: HealthFile,
        limits: HandlerLimits | None = None,
        metrics: WorkerMetrics | None = None,
        *,
        shadow: ShadowComparer | None = None,
    ) -> None:
        self._processor = processor
        self._shadow = shadow
        self._outputs = outputs
        self._health = health
        self._limits = limits or HandlerLimits()
        self._metrics = metrics or WorkerMetrics()
        self.batch_started_at: float | None = None  # monotonic time the batch in hand arrived; None when idle
        self.held_records = 0
        self.last_completed_at = time.monotonic()

    async def handle(self, records: list[IncomingRecord], policy: ServingPolicy) -> None:
        """Return once every record has a decision or a dead letter acknowledged by the broker."""
        self.batch_started_at, self.held_records = time.monotonic(), len(records)
        try:
            await self._until_published(records, policy)
        finally:
            self.batch_started_at, self.held_records = None, 0
        self.last_completed_at = time.monotonic()

    async def _until_published(self, records: list[IncomingRecord], policy: ServingPolicy) -> None:
        attempt = 0
        trip_breaker = True
        while True:
            try:
                outcome = await self._processor.process(records, policy, trip_breaker=trip_breaker)
                publish_started = time.perf_counter()
                await self._outputs.publish(outcome, self._limits.publish_timeout_s)
                self._metrics.stage_seconds.labels(stage="publish").observe(time.perf_counter() - publish_started)
            except CircuitOpenError as exc:
                self._metrics.circuit_open.set(1)
                log.error(  # noqa: TRY400 - the breaker's message says it all; no traceback needed
                    "circuit_open", error=str(exc), held_records=len(records), retry_in_s=self._limits.cooldown_s
                )
                self._health.set(HealthStatus.UNHEALTHY, f"circuit breaker open: {exc}")
                await asyncio.sleep(self._limits.cooldown_s)
                trip_breaker = not await self._processor.model_answers(policy)
                if not trip_breaker:  # the model works: these messages fail on their own, so they are letters
                    log.warning("breaker_probe_passed", held_records=len(records), action="dead-letter the batch")
                continue
            except Exception as exc:  # any failure retries the whole batch; nothing is skipped
                attempt += 1
                self._metrics.batch_retries.inc()
                delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (attempt - 1))
                log.exception("batch_retry", attempt=attempt, error=repr(exc), records=len(records), retry_in_s=delay)
                red = attempt >= self._limits.retries_before_unhealthy
                status = HealthStatus.UNHEALTHY if red else HealthStatus.DEGRADED
                self._health.set(status, f"batch retry {attempt}: {type(exc).__name__}")
                await asyncio.sleep(delay)
                continue
            self._health.set(HealthStatus.OK)
            self._metrics.circuit_open.set(0)
            self._count(records, outcome)
            if self._shadow is not None:
                self._shadow.submit(outcome.shadow_job)  # after the acks, in the background
            return

    def _count(self, records: list[IncomingRecord], outcome: BatchOutcome) -> None:
        """Metrics never stop the stream: the batch is published, so a counting bug is logged and counted."""
        try:
            self._processor.count(records, outcome)
        except Exception as exc:
            log.error("metrics_failed", error=repr(exc), records=len(records))  # noqa: TRY400 - one line is enough
            self._metrics.metrics_errors.inc()


class ProgressWatchdog:
    """Turns health red when the stream stops moving: a batch held past the timeout (open breaker, retries,
    a hung call), or requests waiting while no batch has completed for that long."""

    def __init__(self, handler: BatchHandler, health: HealthFile, metrics: WorkerMetrics, timeout_s: float) -> None:
        self._handler = handler
        self._health = health
        self._metrics = metrics
        self._timeout_s = timeout_s

    def check(self, now: float | None = None) -> None:
        """Look once (the worker's heartbeat timer calls this)."""
        now = time.monotonic() if now is None else now
        handler = self._handler
        problem = ""
        if handler.batch_started_at is not None and now - handler.batch_started_at > self._timeout_s:
            held_s = now - handler.batch_started_at
            problem = f"no batch completed for {held_s:.0f} s: {handler.held_records} records held"
        elif self._waiting() and now - handler.last_completed_at > self._timeout_s:
            problem = f"requests waiting, no batch completed for {now - handler.last_completed_at:.0f} s"
        if problem:
            self._health.set(HealthStatus.UNHEALTHY, problem, Component.PROGRESS)
        else:
            self._health.set(HealthStatus.OK, component=Component.PROGRESS)

    def _waiting(self) -> bool:
        return any(sample.value > 0 for sample in _samples(self._metrics.consumer_lag))


def _samples(gauge: Any) -> list[Any]:
    return [sample for metric in gauge.collect() for sample in metric.samples]


def _record_lag(app: faust.App, records: list[IncomingRecord], metrics: WorkerMetrics) -> None:
    """Records behind the end of each partition this batch came from (faust tracks the highwater)."""
    last: dict[int, int] = {}
    for record in records:
        last[record.partition] = max(record.offset, last.get(record.partition, -1))
    for partition, offset in last.items():
        with contextlib.suppress(Exception):  # the highwater is not known before the first fetch response
            highwater = app.consumer.highwater(TP(records[0].topic, partition))
            metrics.consumer_lag.labels(partition=str(partition)).set(max(highwater - offset - 1, 0))


def _record(event: faust.EventT[bytes]) -> IncomingRecord:
    message = event.message
    value = message.value if message.value is not None else b""
    return IncomingRecord(
        value=value, key=message.key, topic=message.topic, partition=message.partition, offset=message.offset
    )
