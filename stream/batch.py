"""`BatchProcessor`: turns a batch of raw records into decisions and dead letters. No Kafka here.

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
from stream.records import IncomingRecord, RejectedMessage, dead_letter, parse_request
from stream.student.protocol import Classification, StudentModel

log = structlog.get_logger("stream.batch")
MS_PER_S = 1000.0
DEFAULT_BREAKER_THRESHOLD = 20


@dataclass(frozen=True)
class _Timing:
    """When the batch started, how long the model took for it, and how many requests it held."""

    started: float
    model_ms: float
    batch_size: int


@dataclass
class BatchOutcome:
    """What a batch produced: one decision per valid request, one dead letter per rejected record."""

    decisions: list[ModerationDecision] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class BatchProcessor:
    """Validates records, classifies the valid ones in one student call, and builds the outputs."""

    def __init__(
        self,
        student: StudentModel,
        executor: Executor,
        worker_id: str,
        max_message_bytes: int,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._student = student
        self._executor = executor
        self._worker_id = worker_id
        self._max_message_bytes = max_message_bytes
        self.breaker = breaker or CircuitBreaker(DEFAULT_BREAKER_THRESHOLD)

    async def process(self, records: list[IncomingRecord]) -> BatchOutcome:
        """Decisions and dead letters for `records`; the model runs on the executor, off the event loop."""
        started = time.perf_counter()
        outcome = BatchOutcome()
        requests: list[tuple[IncomingRecord, ModerationRequest]] = []
        for record in records:
            try:
                requests.append((record, self._parse(record)))
            except RejectedMessage as rejection:
                outcome.dead_letters.append(dead_letter(record, rejection, self._worker_id))
        if requests:
            await self._decide(requests, started, outcome)
        self._log_batch(records, outcome, started)
        return outcome

    def _parse(self, record: IncomingRecord) -> ModerationRequest:
        try:
            return parse_request(record, self._max_message_bytes)
        except RejectedMessage:
            raise
        except Exception as exc:  # the decoder is meant to be total; if it is not, the record still gets a letter
            raise RejectedMessage(DeadLetterReason.INVALID_SCHEMA, f"{type(exc).__name__}: {exc}") from exc

    async def _decide(
        self, requests: list[tuple[IncomingRecord, ModerationRequest]], started: float, outcome: BatchOutcome
    ) -> None:
        loop = asyncio.get_running_loop()
        texts = [request.text for _record, request in requests]
        model_started = time.perf_counter()
        results: list[Classification | Exception]
        try:
            results = list(await loop.run_in_executor(self._executor, self._student.classify, texts))
        except Exception:  # one bad message must not sink its neighbours: retry one by one
            results = [await loop.run_in_executor(self._executor, self._classify_one, text) for text in texts]
        timing = _Timing(started, (time.perf_counter() - model_started) * MS_PER_S, len(texts))
        for (record, request), result in zip(requests, results, strict=True):
            if isinstance(result, Exception):
                self.breaker.record_failure()  # raises CircuitOpenError: the batch is held, nothing published
                rejection = RejectedMessage(DeadLetterReason.INFERENCE_ERROR, f"{type(result).__name__}: {result}")
                outcome.dead_letters.append(dead_letter(record, rejection, self._worker_id))
                continue
            self.breaker.record_success()
            try:
                outcome.decisions.append(self._decision(request, result, timing))
            except ValueError as exc:  # pydantic's ValidationError too: e.g. NaN probabilities
                rejection = RejectedMessage(DeadLetterReason.OUTPUT_ERROR, f"no valid decision: {exc}")
                outcome.dead_letters.append(dead_letter(record, rejection, self._worker_id))

    def _classify_one(self, text: str) -> Classification | Exception:
        try:
            return self._student.classify([text])[0]
        except Exception as exc:  # handed back as this message's failure
            return exc

    def _decision(self, request: ModerationRequest, result: Classification, timing: "_Timing") -> ModerationDecision:
        prompt = self._student.prompt
        return ModerationDecision(
            request_id=request.id,
            label=result.label,
            probabilities=result.probabilities,
            instruction_ids=result.instruction_ids,
            instruction_scores=result.instruction_scores,
            scoring_mode=self._student.mode,
            prompt_version=prompt.version,
            prompt_sha256=prompt.sha256,
            model_id=self._student.model_id,
            latency_ms=(time.perf_counter() - timing.started) * MS_PER_S,
            model_ms=timing.model_ms,
            batch_size=timing.batch_size,
            truncated=result.truncated,
            decided_at=datetime.now(UTC),
            worker_id=self._worker_id,
        )

    def _log_batch(self, records: list[IncomingRecord], outcome: BatchOutcome, started: float) -> None:
        log.info(
            "batch",
            size=len(records),
            decisions=len(outcome.decisions),
            dead_letters=len(outcome.dead_letters),
            latency_ms=round((time.perf_counter() - started) * MS_PER_S, 1),
            labels=dict(Counter(decision.label for decision in outcome.decisions)),
            dlq_reasons=dict(Counter(letter.reason.value for letter in outcome.dead_letters)),
            prompt_version=self._student.prompt.version,
        )
