"""The shadow comparison: a sample of each published batch re-scored by the shadow version, off the batch path.

Production never waits for the shadow. A batch hands its sample over (`ShadowJob`) once its decisions are
acknowledged; the `ShadowComparer` scores it on a thread of its own and publishes the disagreements. At
most `ShadowLimits.max_pending_batches` samples wait or run at once; a batch arriving past that, a
comparison over `budget_s`, or a shadow failure skips that sample (counted in `pld_shadow_skipped`, logged),
and never touches the decisions. A stop waits for the comparisons in flight for at most about one budget.
"""

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from schemas import ModerationDecision, ShadowDecision, ShadowDisagreement
from stream.metrics import WorkerMetrics
from stream.policy import in_canary
from stream.student import Classification, StudentModel

log = structlog.get_logger("stream.shadow")
Publish = Callable[[list[ShadowDisagreement]], Awaitable[None]]
DRAIN_MARGIN_S = 1.0  # beyond the budget, for the publishing at a stop


@dataclass(frozen=True)
class ShadowLimits:
    """How much the shadow may take: a time budget per batch and a queue bound (the sample is the batch
    processor's, `PLD_SHADOW_SAMPLE_PERCENT`, chosen by request-id hash so a retried batch samples alike)."""

    budget_s: float = 10.0  # past this the batch's comparison is skipped and counted
    max_pending_batches: int = 2  # samples waiting or being scored; more are skipped


@dataclass(frozen=True)
class ShadowJob:
    """One batch's sample: the shadow student, the decisions it re-scores and their texts, in order."""

    shadow: StudentModel
    decisions: list[ModerationDecision]
    texts: list[str]


def shadow_job(
    shadow: StudentModel | None, decisions: list[ModerationDecision], texts_by_id: dict[str, str], percent: float
) -> ShadowJob | None:
    """The sample of `decisions` (by request-id hash) the shadow re-scores, or None when there is nothing to do."""
    if shadow is None:
        return None
    sampled = [decision for decision in decisions if in_canary(decision.request_id, percent)]
    if not sampled:
        return None
    return ShadowJob(shadow, sampled, [texts_by_id[decision.request_id] for decision in sampled])


class ShadowComparer:
    """Scores shadow jobs on its own thread and publishes their disagreements; bounded, never blocking."""

    def __init__(self, limits: ShadowLimits, metrics: WorkerMetrics, publish: Publish) -> None:
        self._limits = limits
        self._metrics = metrics
        self._publish = publish
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pld-shadow")
        self._pending: set[asyncio.Task[None]] = set()

    def submit(self, job: ShadowJob | None) -> None:
        """Start comparing `job` in the background, or skip it when `max_pending_batches` are in hand."""
        if job is None:
            return
        if len(self._pending) >= self._limits.max_pending_batches:
            self._skip(job, "shadow_queue_full", pending=len(self._pending))
            return
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for the comparisons in flight (each ends within its budget), at most one budget and a margin."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=self._limits.budget_s + DRAIN_MARGIN_S)

    def close(self) -> None:
        """Stop the shadow's thread once its current call returns."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, job: ShadowJob) -> None:
        loop = asyncio.get_running_loop()
        try:
            call = loop.run_in_executor(self._executor, job.shadow.classify, job.texts)
            answers = await asyncio.wait_for(call, self._limits.budget_s)
        except TimeoutError:
            self._skip(job, "shadow_over_budget", budget_s=self._limits.budget_s)
            return
        except Exception as exc:  # a failing shadow costs the comparison only
            self._skip(job, "shadow_failed", error=repr(exc))
            return
        disagreements = [
            found
            for decision, answer in zip(job.decisions, answers, strict=True)
            if (found := disagreement(decision, job.shadow, answer)) is not None
        ]
        try:
            await self._publish(disagreements)
        except Exception as exc:
            log.warning("shadow_publish_failed", error=repr(exc), disagreements=len(disagreements))
            return
        self._metrics.shadow_disagreements.inc(len(disagreements))
        log.info("shadow_compared", requests=len(job.decisions), disagreements=len(disagreements))

    def _skip(self, job: ShadowJob, event: str, **details: object) -> None:
        self._metrics.shadow_skipped.inc(len(job.decisions))
        log.warning(event, requests=len(job.decisions), **details)


def disagreement(served: ModerationDecision, shadow: StudentModel, answer: Classification) -> ShadowDisagreement | None:
    """How the shadow's answer differs from the served decision (label or rules cited), or None."""
    only_served = sorted(set(served.instruction_ids) - set(answer.instruction_ids))
    only_shadow = sorted(set(answer.instruction_ids) - set(served.instruction_ids))
    label_differs = answer.label != served.label
    if not (label_differs or only_served or only_shadow):
        return None
    prompt = shadow.prompt
    return ShadowDisagreement(
        served=served,
        shadow=ShadowDecision(
            prompt_version=prompt.version,
            prompt_sha256=prompt.sha256,
            label=answer.label,
            probabilities=answer.probabilities,
            instruction_ids=answer.instruction_ids,
        ),
        label_differs=label_differs,
        instructions_only_served=only_served,
        instructions_only_shadow=only_shadow,
    )
