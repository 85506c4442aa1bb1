"""BatchProcessor with a fake student: one decision per valid request, one dead letter per bad record."""

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiokafka.errors import KafkaTimeoutError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import DeadLetterReason, ModelId, ModerationDecision, ShadowDisagreement
from stream.app import BatchHandler, HandlerLimits, ProgressWatchdog
from stream.batch import BatchOutcome, BatchProcessor
from stream.breaker import CircuitBreaker
from stream.decoding import IncomingRecord
from stream.errors import InferenceError
from stream.health import Component, HealthFile, HealthStatus, read_health
from stream.metrics import WorkerMetrics
from stream.policy import ServingPolicy, in_canary
from stream.prompts import starter_prompt
from stream.shadow import ShadowComparer, ShadowJob, ShadowLimits
from stream.student.testing import FakeStudent

MODEL = ModelId(file_name="fake.gguf", sha256="1" * 64)


def records(*values: bytes) -> list[IncomingRecord]:
    return [IncomingRecord(value=v, key=None, topic="t", partition=0, offset=i) for i, v in enumerate(values)]


def request(request_id: str, text: str) -> bytes:
    return json.dumps({"id": request_id, "text": text}).encode()


async def test_valid_and_invalid_records_are_split() -> None:
    """Valid requests are classified together in one call; invalid ones become dead letters."""
    student = FakeStudent(starter_prompt(), MODEL, rule=lambda text: "block" if "kill" in text else "allow")
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", max_message_bytes=4096)
        batch = records(request("a", "hello"), b"oops", request("b", "I will kill you"))
        outcome = await processor.process(batch, ServingPolicy(student))
    assert [(d.request_id, d.label) for d in outcome.decisions] == [("a", "allow"), ("b", "block")]
    assert [letter.reason for letter in outcome.dead_letters] == [DeadLetterReason.NOT_JSON]
    assert student.calls == [["hello", "I will kill you"]]
    decision = outcome.decisions[0]
    assert decision.prompt_sha256 == starter_prompt().sha256
    assert decision.model_id == MODEL
    assert decision.worker_id == "w1"
    decision.check_against(starter_prompt())


class PickyStudent(FakeStudent):
    """Fails any batch holding the text 'poison', like a model that chokes on one input."""

    def classify(self, texts):  # type: ignore[no-untyped-def]
        if "poison" in texts:
            raise InferenceError("cannot decode")
        return super().classify(texts)


async def test_one_failing_message_does_not_sink_the_batch() -> None:
    """When the model fails on a batch, the good messages still get decisions and the bad one is dead-lettered."""
    student = PickyStudent(starter_prompt(), MODEL)
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", max_message_bytes=4096)
        outcome = await processor.process(records(request("a", "fine"), request("b", "poison")), ServingPolicy(student))
    assert [d.request_id for d in outcome.decisions] == ["a"]
    assert [letter.reason for letter in outcome.dead_letters] == [DeadLetterReason.INFERENCE_ERROR]


class FlakyStudent(FakeStudent):
    """Fails every text that contains 'fail', alone or in a batch (a model error tied to one input)."""

    def classify(self, texts):  # type: ignore[no-untyped-def]
        if any("fail" in text for text in texts):
            raise RuntimeError("unexpected model error")
        return super().classify(texts)


RECORD_VALUES = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda rid, text: request(f"r{rid}", text), st.integers(0, 99), st.text(max_size=30)),
    st.sampled_from([request("p", "please fail"), b'{"id": "x", "text": "\\ud800"}', b"[" * 100]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(RECORD_VALUES, max_size=12))
def test_every_record_gets_exactly_one_output(values: list[bytes]) -> None:
    """Whatever a batch holds, each record ends as one decision or one dead letter, and nothing is raised."""
    student = FlakyStudent(starter_prompt(), MODEL)
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", max_message_bytes=4096, breaker=CircuitBreaker(1000))
        outcome = asyncio.run(processor.process(records(*values), ServingPolicy(student)))
    assert len(outcome.decisions) + len(outcome.dead_letters) == len(values)
    letters = {letter.offset for letter in outcome.dead_letters}
    assert len(letters) == len(outcome.dead_letters)


class BrokenStudent(FakeStudent):
    """A model that fails on everything."""

    def classify(self, texts):  # type: ignore[no-untyped-def]
        raise InferenceError("llama_decode returned -3")


class RecordingOutputs:
    """Collects published outcomes (a stand-in for the Kafka topics)."""

    def __init__(self) -> None:
        self.published: list[BatchOutcome] = []

    async def publish(self, outcome: BatchOutcome, timeout_s: float = 1.0) -> None:
        self.published.append(outcome)


async def test_a_broken_model_opens_the_breaker_and_holds_the_batch(tmp_path: Path) -> None:
    """After N failures in a row nothing more is dead-lettered: the batch is held and health turns red."""
    outputs = RecordingOutputs()
    health = HealthFile(tmp_path / "health.json", "w1")
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", 4096, CircuitBreaker(3))
        broken = ServingPolicy(BrokenStudent(starter_prompt(), MODEL))
        handler = BatchHandler(processor, outputs, health, HandlerLimits(cooldown_s=0.05))  # type: ignore[arg-type]
        batch = records(*(request(f"r{n}", f"message {n}") for n in range(5)))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(handler.handle(batch, broken), timeout=0.5)
    assert outputs.published == []
    assert read_health(health.path)["status"] == "unhealthy"


async def test_a_failing_publish_retries_the_whole_batch(tmp_path: Path) -> None:
    """A publish that fails once is retried; the batch is then published whole, and health is ok again."""

    class FailingOnce(RecordingOutputs):
        async def publish(self, outcome: BatchOutcome, timeout_s: float = 1.0) -> None:
            if not self.published and not getattr(self, "failed", False):
                self.failed = True
                raise KafkaTimeoutError
            await super().publish(outcome, timeout_s)

    outputs = FailingOnce()
    health = HealthFile(tmp_path / "health.json", "w1")
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", 4096)
        handler = BatchHandler(processor, outputs, health, HandlerLimits(cooldown_s=0.05))  # type: ignore[arg-type]
        await handler.handle(
            records(request("a", "hello"), b"junk"), ServingPolicy(FakeStudent(starter_prompt(), MODEL))
        )
    assert [(len(o.decisions), len(o.dead_letters)) for o in outputs.published] == [(1, 1)]
    assert read_health(health.path)["status"] == "ok"


async def test_the_canary_decides_its_share_and_the_shadow_reports_disagreements() -> None:
    """Each request is decided by its assigned version (stamped in the decision); the shadow only reports."""
    production = FakeStudent(starter_prompt(), MODEL, rule=lambda _text: "allow")
    canary_prompt = starter_prompt().variant("starter-canary")
    canary = FakeStudent(canary_prompt, MODEL, rule=lambda _text: "review")
    shadow = FakeStudent(
        starter_prompt().variant("starter-shadow"), MODEL, rule=lambda text: "block" if "x" in text else "allow"
    )
    policy = ServingPolicy(production, canary=canary, canary_share=30.0, shadow=shadow)
    ids = [f"r{n}" for n in range(200)]
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", 4096)
        outcome = await processor.process(records(*(request(rid, f"text x {rid}") for rid in ids)), policy)
    by_version = {d.request_id: (d.prompt_version, d.served_as, d.label) for d in outcome.decisions}
    canaried = {rid for rid in ids if in_canary(rid, 30.0)}
    assert {rid for rid, (version, _, _) in by_version.items() if version == "starter-canary"} == canaried
    assert all(by_version[rid][1:] == ("canary", "review") for rid in canaried)
    assert all(by_version[rid][1:] == ("production", "allow") for rid in set(ids) - canaried)
    assert shadow.calls == []  # the batch hands its sample over; the shadow scores it later, off the batch path
    assert outcome.shadow_job is not None
    found = await compared(outcome.shadow_job)
    assert {d.served.request_id for d in found} == set(ids)
    assert all(d.label_differs and d.shadow.label == "block" for d in found)


async def compared(job: ShadowJob, limits: ShadowLimits | None = None) -> list[ShadowDisagreement]:
    """The disagreements a comparer publishes for `job`."""
    published: list[ShadowDisagreement] = []

    async def publish(disagreements: list[ShadowDisagreement]) -> None:
        published.extend(disagreements)

    comparer = ShadowComparer(limits or ShadowLimits(), WorkerMetrics(), publish)
    try:
        comparer.submit(job)
        await comparer.drain()
    finally:
        comparer.close()
    return published


async def test_a_naive_timestamp_is_decided_and_counted(tmp_path: Path) -> None:
    """The request that crash-looped the group (naive `created_at`) is decided, published and counted."""
    student = FakeStudent(starter_prompt(), MODEL)
    published: list[BatchOutcome] = []

    class Outputs:
        async def publish(self, outcome: BatchOutcome, timeout_s: float = 1.0) -> None:
            published.append(outcome)

    naive = json.dumps({"id": "naive", "text": "hello", "created_at": "2024-01-01T00:00:00"}).encode()
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", max_message_bytes=4096)
        health = HealthFile(tmp_path / "health.json", "w1")
        handler = BatchHandler(processor, Outputs(), health, HandlerLimits(cooldown_s=0.01))  # type: ignore[arg-type]
        await asyncio.wait_for(handler.handle(records(naive, request("b", "hi")), ServingPolicy(student)), 5)
    assert [d.request_id for d in published[0].decisions] == ["naive", "b"]
    assert published[0].decisions[0].requested_at is not None
    assert published[0].decisions[0].requested_at.tzinfo is not None


async def test_a_metrics_failure_does_not_stop_the_batch(tmp_path: Path) -> None:
    """A bug while counting a published batch is logged and counted; the handler still returns."""
    student = FakeStudent(starter_prompt(), MODEL)

    class Outputs:
        async def publish(self, outcome: BatchOutcome, timeout_s: float = 1.0) -> None:
            return None

    class BrokenCounting(BatchProcessor):
        def count(self, records: list[IncomingRecord], outcome: BatchOutcome) -> None:
            raise TypeError("can't subtract offset-naive and offset-aware datetimes")

    with ThreadPoolExecutor(1) as executor:
        processor = BrokenCounting(executor, "w1", max_message_bytes=4096)
        health = HealthFile(tmp_path / "h.json", "w1")
        handler = BatchHandler(processor, Outputs(), health, HandlerLimits(cooldown_s=0.01))  # type: ignore[arg-type]
        await asyncio.wait_for(handler.handle(records(request("a", "hello")), ServingPolicy(student)), 5)


async def test_a_hung_model_call_is_a_failure_that_opens_the_breaker(tmp_path: Path) -> None:
    """A model call past the timeout fails its messages; enough of them open the breaker (health red)."""

    class HungStudent(FakeStudent):
        def classify(self, texts):  # type: ignore[no-untyped-def]
            time.sleep(0.3)
            return super().classify(texts)

    outputs = RecordingOutputs()
    health = HealthFile(tmp_path / "health.json", "w1")
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", 4096, CircuitBreaker(2), model_timeout_s=0.05)
        handler = BatchHandler(processor, outputs, health, HandlerLimits(cooldown_s=5))  # type: ignore[arg-type]
        task = asyncio.ensure_future(
            handler.handle(
                records(request("a", "hi"), request("b", "ho")), ServingPolicy(HungStudent(starter_prompt(), MODEL))
            )
        )
        await asyncio.sleep(0.5)
        assert read_health(health.path)["status"] == "unhealthy"
        task.cancel()
    assert outputs.published == []


def test_the_watchdog_turns_red_when_a_batch_is_held_and_green_when_it_moves(tmp_path: Path) -> None:
    """No batch completed within the progress timeout while one is held: health is red, with the reason."""
    health = HealthFile(tmp_path / "health.json", "w1")
    health.set(HealthStatus.OK, component=Component.WORKER)
    metrics = WorkerMetrics()
    with ThreadPoolExecutor(1) as executor:
        handler = BatchHandler(BatchProcessor(executor, "w1", 4096), RecordingOutputs(), health)  # type: ignore[arg-type]
    watchdog = ProgressWatchdog(handler, health, metrics, timeout_s=10)
    handler.batch_started_at, handler.held_records = 100.0, 7
    watchdog.check(now=105.0)
    assert health.status is HealthStatus.OK
    watchdog.check(now=111.0)
    assert (health.status, health.reason) == (HealthStatus.UNHEALTHY, "no batch completed for 11 s: 7 records held")
    handler.batch_started_at, handler.last_completed_at = None, 111.0
    metrics.consumer_lag.labels(partition="0").set(3)
    watchdog.check(now=115.0)
    green = health.status
    watchdog.check(now=122.0)
    assert (green, health.status) == (HealthStatus.OK, HealthStatus.UNHEALTHY)
    assert "requests waiting" in health.reason


def test_a_good_batch_does_not_erase_the_registry_state(tmp_path: Path) -> None:
    """The registry's 'unreachable' stays in health until the registry itself is back."""
    health = HealthFile(tmp_path / "health.json", "w1")
    health.set(HealthStatus.OK, component=Component.WORKER)
    health.set(HealthStatus.DEGRADED, "prompt registry unreachable", Component.REGISTRY)
    health.set(HealthStatus.OK)  # a batch went through
    assert read_health(health.path)["status"] == "degraded"
    health.set(HealthStatus.OK, component=Component.REGISTRY)
    assert read_health(health.path)["status"] == "ok"


async def test_a_failing_canary_falls_back_to_production_for_that_request() -> None:
    """A canary that cannot decode costs nothing: production decides, the failure is counted per role."""
    production = FakeStudent(starter_prompt(), MODEL, rule=lambda _text: "allow")
    canary = BrokenStudent(starter_prompt().variant("broken-canary"), MODEL)
    metrics = WorkerMetrics()
    ids = [f"r{n}" for n in range(40)]
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", 4096, metrics=metrics)
        policy = ServingPolicy(production, canary=canary, canary_share=50.0)
        outcome = await processor.process(records(*(request(rid, "hello") for rid in ids)), policy)
    assert outcome.dead_letters == []
    assert {d.served_as for d in outcome.decisions} == {"production"}
    canaried = sum(in_canary(rid, 50.0) for rid in ids)
    assert metrics.inference_failures.labels(role="canary")._value.get() == canaried


async def test_when_only_the_messages_fail_the_probe_passes_and_they_are_dead_lettered(tmp_path: Path) -> None:
    """Every message fails but a known-good one decodes: after one cool-down the batch is dead-lettered
    instead of holding its partition forever."""
    picky = PickyStudent(starter_prompt(), MODEL)
    outputs = RecordingOutputs()
    health = HealthFile(tmp_path / "health.json", "w1")
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", 4096, CircuitBreaker(2))
        handler = BatchHandler(processor, outputs, health, HandlerLimits(cooldown_s=0.05))  # type: ignore[arg-type]
        batch = records(*(request(f"p{n}", "poison") for n in range(3)))
        await asyncio.wait_for(handler.handle(batch, ServingPolicy(picky)), 5)
    [published] = outputs.published
    assert [letter.reason for letter in published.dead_letters] == [DeadLetterReason.INFERENCE_ERROR] * 3


async def test_production_never_waits_for_the_shadow(tmp_path: Path) -> None:
    """A batch is published and its handler returns while the shadow is still scoring its sample (blocked
    here until the test lets it go); the disagreements are published once it answers."""
    release = threading.Event()

    class BlockedShadow(FakeStudent):
        def classify(self, texts):  # type: ignore[no-untyped-def]
            release.wait(10)
            return super().classify(texts)

    shadow = BlockedShadow(starter_prompt().variant("blocked"), MODEL, rule=lambda _text: "block")
    published: list[ShadowDisagreement] = []

    async def publish(disagreements: list[ShadowDisagreement]) -> None:
        published.extend(disagreements)

    outputs = RecordingOutputs()
    comparer = ShadowComparer(ShadowLimits(budget_s=10.0), WorkerMetrics(), publish)
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", 4096)
        handler = BatchHandler(processor, outputs, HealthFile(tmp_path / "h.json", "w1"), shadow=comparer)  # type: ignore[arg-type]
        policy = ServingPolicy(FakeStudent(starter_prompt(), MODEL), shadow=shadow)
        await asyncio.wait_for(handler.handle(records(request("a", "hi"), request("b", "ho")), policy), 5)
        assert [d.request_id for d in outputs.published[0].decisions] == ["a", "b"]
        assert published == []  # the shadow is still scoring
        release.set()
        await comparer.drain()
    comparer.close()
    assert [d.served.request_id for d in published] == ["a", "b"]


async def test_a_slow_or_backed_up_shadow_skips_its_samples_and_counts_them() -> None:
    """Past its budget a comparison is dropped; past `max_pending_batches` a sample is not even started."""

    class SlowShadow(FakeStudent):
        def classify(self, texts):  # type: ignore[no-untyped-def]
            time.sleep(0.5)
            return super().classify(texts)

    metrics = WorkerMetrics()
    shadow = SlowShadow(starter_prompt().variant("slow-shadow"), MODEL, rule=lambda _text: "block")
    served = [await decided(rid) for rid in ("a", "b")]
    job = ShadowJob(shadow, served, ["hi", "ho"])

    async def publish(_disagreements: list[ShadowDisagreement]) -> None:
        raise AssertionError("nothing is published past the budget")

    comparer = ShadowComparer(ShadowLimits(budget_s=0.05, max_pending_batches=1), metrics, publish)
    comparer.submit(job)
    comparer.submit(job)  # the first is still in hand: this one is skipped at once
    assert metrics.shadow_skipped._value.get() == 2
    await comparer.drain()
    comparer.close()
    assert metrics.shadow_skipped._value.get() == 4


async def decided(request_id: str) -> ModerationDecision:
    """A production decision for `request_id` from the fake student."""
    with ThreadPoolExecutor(1) as executor:
        processor = BatchProcessor(executor, "w1", 4096)
        outcome = await processor.process(
            records(request(request_id, "hi")), ServingPolicy(FakeStudent(starter_prompt(), MODEL))
        )
    return outcome.decisions[0]
