"""`BatchProcessor`: turns a batch of raw records into decisions and dead letters. No Kafka here.

Each request is decided by the student its batch's `ServingPolicy` assigns (production, or the
canary for the canary's share); the decision is stamped with that student's prompt version. With a
shadow in the policy, the outcome carries the sample the shadow re-scores later, off the batch path
(`stream.shadow`).

Nothing a single message does can escape: a record that does not decode is dead-lettered with its
reason; a message the model fails on is retried alone and then dead-lettered; a decision that cannot
be built (e.g. non-finite probabilities) is dead-lettered. The one exception that leaves `process`
is `CircuitOpenError`: every message is failing, so the model is broken and the batch is held.
"""

import asyncio
import time
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from schemas import DeadLetter, DeadLetterReason, ModerationDecision, ModerationRequest
from stream.breaker import CircuitBreaker
from stream.decoding import IncomingRecord, RejectedMessage, dead_letter, parse_request
from stream.errors import InferenceError
from stream.metrics import WorkerMetrics
from stream.policy import Role, ServingPolicy
from stream.shadow import ShadowJob, shadow_job
from stream.student import Classification, StudentModel, decided_category

Pending = list[tuple[IncomingRecord, ModerationRequest]]

log = structlog.get_logger("stream.batch")
MS_PER_S = 1000.0
DEFAULT_BREAKER_THRESHOLD = 20
DEFAULT_MODEL_TIMEOUT_S = 60.0
PROBE_TEXT = "Hello, how is everyone doing today?"  # fits any context a prompt fits, decodes on any working model


@dataclass(frozen=True)
class Decider:
    """Who decides a group of requests: the student, its role, production when a canary fails, and whether
    failures count towards the breaker."""

    student: StudentModel
    role: Role
    fallback: StudentModel | None = None
    trip_breaker: bool = True


@dataclass(frozen=True)
class _Timing:
    """When the batch started, how long the model took for it, and how many requests it held."""

    started: float
    model_ms: float
    batch_size: int


@dataclass
class BatchOutcome:
    """What a batch produced: one decision per valid request, one dead letter per rejected record, and the
    sample the shadow re-scores once the batch is published (None without a shadow)."""

    decisions: list[ModerationDecision] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    shadow_job: ShadowJob | None = None
    requested_at: list[datetime] = field(default_factory=list)  # the valid requests' created_at, for latency


class BatchProcessor:
    """Validates records, classifies the valid ones in one student call, and builds the outputs."""

    def __init__(
        self,
        executor: Executor,
        worker_id: str,
        max_message_bytes: int,
        breaker: CircuitBreaker | None = None,
        metrics: WorkerMetrics | None = None,
        *,
        model_timeout_s: float = DEFAULT_MODEL_TIMEOUT_S,
        shadow_sample_percent: float = 100.0,
    ) -> None:
        self._executor = executor
        self._model_timeout_s = model_timeout_s
        self._shadow_sample_percent = shadow_sample_percent
        self._metrics = metrics or WorkerMetrics()
        self._worker_id = worker_id
        self._max_message_bytes = max_message_bytes
        self.breaker = breaker or CircuitBreaker(DEFAULT_BREAKER_THRESHOLD)

    async def process(
        self, records: list[IncomingRecord], policy: ServingPolicy, *, trip_breaker: bool = True
    ) -> BatchOutcome:
        """Decisions and dead letters for `records` under `policy`; the model runs on the executor. With
        `trip_breaker` off (the model was just shown to work), failing messages are dead-lettered only."""
        started = time.perf_counter()
        outcome = BatchOutcome()
        requests: Pending = []
        for record in records:
            try:
                requests.append((record, self._parse(record)))
            except RejectedMessage as rejection:
                outcome.dead_letters.append(dead_letter(record, rejection, self._worker_id))
        outcome.requested_at = [request.created_at for _record, request in requests]
        groups: dict[int, tuple[StudentModel, Role, Pending]] = {}
        for record, request in requests:
            student, role = policy.decider_for(request.id)
            groups.setdefault(id(student), (student, role, []))[2].append((record, request))
        self._metrics.stage_seconds.labels(stage="decode").observe(time.perf_counter() - started)
        for student, role, group in groups.values():
            fallback = policy.production if role is Role.CANARY else None
            await self._decide(Decider(student, role, fallback, trip_breaker), group, started, outcome)
        texts = {request.id: request.text for _record, request in requests}
        outcome.shadow_job = shadow_job(policy.shadow, outcome.decisions, texts, self._shadow_sample_percent)
        self._log_batch(records, outcome, started, policy)
        return outcome

    def count(self, records: list[IncomingRecord], outcome: BatchOutcome) -> None:
        """Count a published batch in the metrics (once: a retried batch is counted when it lands)."""
        metrics = self._metrics
        metrics.requests.inc(len(records))
        metrics.batch_size.observe(len(records))
        now = datetime.now(UTC)
        for decision in outcome.decisions:
            served_as = decision.served_as or "-"
            category = decision.category or "-"
            metrics.decisions.labels(decision.label, category, decision.prompt_version, served_as).inc()
            metrics.decisions_by_model.labels(decision.model_id.file_name).inc()
            for instruction_id in decision.instruction_ids:
                metrics.instruction_fires.labels(instruction_id, decision.prompt_version).inc()
        for request_time in outcome.requested_at:
            metrics.end_to_end_seconds.observe(max((now - request_time).total_seconds(), 0.0))
        for letter in outcome.dead_letters:
            metrics.dead_letters.labels(letter.reason.value).inc()

    def _parse(self, record: IncomingRecord) -> ModerationRequest:
        try:
            return parse_request(record, self._max_message_bytes)
        except RejectedMessage:
            raise
        except Exception as exc:  # the decoder is meant to be total; if it is not, the record still gets a letter
            raise RejectedMessage(DeadLetterReason.INVALID_SCHEMA, f"{type(exc).__name__}: {exc}") from exc

    async def model_answers(self, policy: ServingPolicy) -> bool:
        """Whether production decides a known-good message now (the breaker's probe at each cool-down)."""
        [answer] = await self._classify(policy.production, [PROBE_TEXT])
        if isinstance(answer, Exception):
            return False
        self.breaker.record_success()  # the model works: count failures afresh
        return True

    async def _decide(self, decider: "Decider", requests: Pending, started: float, outcome: BatchOutcome) -> None:
        texts = [request.text for _record, request in requests]
        model_started = time.perf_counter()
        results = await self._classify(decider.student, texts)
        model_s = time.perf_counter() - model_started
        self._metrics.stage_seconds.labels(stage="model").observe(model_s)
        timing = _Timing(started, model_s * MS_PER_S, len(texts))
        for (record, request), first in zip(requests, results, strict=True):
            student, role, result = decider.student, decider.role, first
            if isinstance(result, Exception):
                self._metrics.inference_failures.labels(role=role.value).inc()
                if decider.fallback is not None:  # a failing canary costs nothing: production decides instead
                    student, role = decider.fallback, Role.PRODUCTION
                    [result] = await self._classify(student, [request.text])
            if isinstance(result, Exception):
                if decider.trip_breaker:
                    self.breaker.record_failure()  # raises CircuitOpenError: the batch is held, nothing published
                rejection = RejectedMessage(DeadLetterReason.INFERENCE_ERROR, f"{type(result).__name__}: {result}")
                outcome.dead_letters.append(dead_letter(record, rejection, self._worker_id))
                continue
            self.breaker.record_success()
            try:
                outcome.decisions.append(self._decision(student, role, (record, request), result, timing))
            except ValueError as exc:  # pydantic's ValidationError too: e.g. NaN probabilities
                rejection = RejectedMessage(DeadLetterReason.OUTPUT_ERROR, f"no valid decision: {exc}")
                outcome.dead_letters.append(dead_letter(record, rejection, self._worker_id))

    async def _classify(self, student: StudentModel, texts: list[str]) -> list[Classification | Exception]:
        """Every text's answer or its error; a call past the model timeout fails every text it held (the
        breaker counts them: a hung model opens it and health turns red instead of hanging silently)."""
        loop = asyncio.get_running_loop()
        try:
            call = loop.run_in_executor(self._executor, student.classify, texts)
            return list(await asyncio.wait_for(call, self._model_timeout_s))
        except TimeoutError:
            self._metrics.model_timeouts.inc()
            failure = InferenceError(f"model call exceeded {self._model_timeout_s:g} s for {len(texts)} messages")
            return [failure for _text in texts]
        except Exception:  # one bad message must not sink its neighbours: retry one by one
            return [await loop.run_in_executor(self._executor, _classify_one, student, text) for text in texts]

    def _decision(
        self,
        student: StudentModel,
        role: Role,
        incoming: tuple[IncomingRecord, ModerationRequest],
        result: Classification,
        timing: "_Timing",
    ) -> ModerationDecision:
        record, request = incoming
        prompt = student.prompt
        return ModerationDecision(
            request_id=request.id,
            tenant=request.tenant,
            label=result.label,
            probabilities=result.probabilities,
            instruction_ids=result.instruction_ids,
            category=decided_category(result, prompt),
            instruction_scores=result.instruction_scores,
            scoring_mode=student.mode,
            prompt_version=prompt.version,
            prompt_sha256=prompt.sha256,
            model_id=result.decided_by or student.model_id,
            engine=student.engine,
            latency_ms=(time.perf_counter() - timing.started) * MS_PER_S,
            model_ms=timing.model_ms,
            batch_size=timing.batch_size,
            truncated=result.truncated,
            windows=result.windows,
            window=result.window,
            normalized_chars=result.normalized_chars,
            injection_markup=result.injection_markup,
            unsure=result.unsure,
            served_as=role.value,
            source_partition=record.partition,
            source_offset=record.offset,
            requested_at=request.created_at,
            decided_at=datetime.now(UTC),
            worker_id=self._worker_id,
        )

    def _log_batch(
        self, records: list[IncomingRecord], outcome: BatchOutcome, started: float, policy: ServingPolicy
    ) -> None:
        log.info(
            "batch",
            size=len(records),
            decisions=len(outcome.decisions),
            dead_letters=len(outcome.dead_letters),
            latency_ms=round((time.perf_counter() - started) * MS_PER_S, 1),
            labels=dict(Counter(decision.label for decision in outcome.decisions)),
            dlq_reasons=dict(Counter(letter.reason.value for letter in outcome.dead_letters)),
            versions=dict(Counter(decision.prompt_version for decision in outcome.decisions)),
            shadow_sample=len(outcome.shadow_job.decisions) if outcome.shadow_job else 0,
            generation=policy.generation,
        )


def _classify_one(student: StudentModel, text: str) -> Classification | Exception:
    try:
        return student.classify([text])[0]
    except Exception as exc:  # handed back as this message's failure
        return exc
