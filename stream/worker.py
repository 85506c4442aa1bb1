"""`run_worker`: load the prompt and the student, then run the Faust worker until it is stopped.

Exit status: 0 after a clean stop; 3 when the start-up self-test fails (see `pld.cli`); 70 when the
agent crashed (a supervisor should restart the worker); 75 when a stop took longer than
`stop_deadline_s` and the worker exited by force (nothing is lost: uncommitted batches are redone).
"""

import asyncio
import contextlib
import faulthandler
import json
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import faust
import structlog

from stream.app import AppHooks, create_app
from stream.batch import BatchProcessor
from stream.breaker import CircuitBreaker
from stream.health import Component, HealthFile, HealthStatus
from stream.logging import configure_logging
from stream.metrics import (
    Probes,
    Report,
    WorkerMetrics,
    health_report,
    liveness_report,
    readiness_report,
    serve,
)
from stream.policy import PinnedPolicy, PolicySource, ServingPolicy
from stream.policy_watcher import PolicyWatcher
from stream.processes import ProcessPlan, Supervisor, plan_for
from stream.prompts import PromptRegistry, default_prompt, load_prompt_file
from stream.settings import WorkerSettings
from stream.student import build_served_student, checked_model_file, state_megabytes
from stream.topics import ensure_topics

log = structlog.get_logger("stream.worker")
LAST_GOOD_DIR = "policy"
EXIT_AGENT_CRASHED = 70  # EX_SOFTWARE
EXIT_STOP_DEADLINE = 75  # EX_TEMPFAIL
CRASH_STOP_DEADLINE_S = 10.0  # after an agent crash, a clean stop gets this long before the exit is forced


class ModerationWorker(faust.Worker):
    """A faust worker that always stops: a clean stop has `deadline_s`, then the process exits by force."""

    def __init__(self, app: faust.App, deadline_s: float) -> None:
        super().__init__(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
        self.spinner = None  # a terminal spinner would garble the JSON log lines
        self.deadline_s = deadline_s
        self.agent_crash: BaseException | None = None
        self._deadline: threading.Timer | None = None

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        self._start_deadline(self.deadline_s, EXIT_STOP_DEADLINE)
        super()._schedule_shutdown(signal)

    def agent_crashed(self, exc: BaseException) -> None:
        """The agent died: stop the whole worker, which will then exit with EXIT_AGENT_CRASHED."""
        self.agent_crash = exc
        self._start_deadline(CRASH_STOP_DEADLINE_S, EXIT_AGENT_CRASHED)
        self._schedule_shutdown(signal.SIGTERM)

    def _start_deadline(self, seconds: float, exit_status: int) -> None:
        if self._deadline is None:
            self._deadline = threading.Timer(seconds, _exit_by_force, args=(seconds, exit_status))
            self._deadline.daemon = True
            self._deadline.start()


def _exit_by_force(deadline_s: float, exit_status: int) -> None:
    line = {"event": "stop_deadline_exceeded", "deadline_s": deadline_s, "exit_status": exit_status}
    sys.stderr.write(json.dumps(line) + "\n")
    sys.stderr.flush()
    os._exit(exit_status)


class StopRequestedError(BaseException):
    """SIGTERM/SIGINT arrived while the worker was still starting (before faust handles signals)."""


def _stop_while_starting(signum: int, _frame: object) -> None:
    raise StopRequestedError(signal.Signals(signum).name)


def run_worker(settings: WorkerSettings) -> int:
    """Serve until SIGTERM/SIGINT (or an agent crash); blocks; returns the exit status."""
    faulthandler.enable(file=sys.stderr, all_threads=True)  # a native crash leaves its stacks in the log
    configure_logging(settings.log_level)
    for stop_signal in (signal.SIGTERM, signal.SIGINT):  # until faust installs its own handlers
        signal.signal(stop_signal, _stop_while_starting)
    try:
        plan = _process_plan(settings)
        if plan.processes > 1:
            supervisor = Supervisor(plan, worker_id=settings.worker_id, metrics_port=settings.metrics_port)
            return supervisor.run()
        return _run(settings)
    except StopRequestedError as stop:
        log.info("worker_stopped_while_starting", signal=str(stop))
        return 0


def _process_plan(settings: WorkerSettings) -> ProcessPlan:
    """How many decoding processes this machine runs (`stream/processes.py`); one runs in this process."""
    if settings.worker_processes == 1:
        return plan_for(settings, model_bytes=0)
    model = checked_model_file(settings)  # resolved and self-tested once, before the children look for it
    plan = plan_for(settings, model.path.stat().st_size)
    log.info("worker_processes_planned", processes=plan.processes, threads=plan.threads, reason=plan.reason)
    return plan


def _run(settings: WorkerSettings) -> int:
    log.info("worker_starting", worker_id=settings.worker_id, python=sys.executable)
    checked_model_file(settings)  # the self-test, before Kafka, Redis or the model are touched
    health = HealthFile(settings.resolved_health_file, settings.worker_id)
    health.set(HealthStatus.STARTING)
    topics = [settings.requests_topic, settings.decisions_topic, settings.dlq_topic, settings.shadow_topic]
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap,
            topics,
            settings.topic_partitions,
            replication_factor=settings.kafka_replication_factor,
            options=settings.kafka_security.client_options(),
        )
    )
    metrics = WorkerMetrics()
    registry = PromptRegistry.from_settings(settings)  # the worker's one registry client (watcher and probe)
    source = _policy_source(settings, health, registry, metrics)
    _log_ready(settings, source.current, health)
    health.set(HealthStatus.OK, component=Component.WORKER)  # the registry's "degraded", if any, stays
    probes = _serve_metrics(settings, health, source, registry, metrics)
    worker: ModerationWorker | None = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="student") as executor:
            breaker = CircuitBreaker(settings.breaker_threshold)
            processor = BatchProcessor(
                executor,
                settings.worker_id,
                settings.max_message_bytes,
                breaker,
                metrics,
                model_timeout_s=settings.model_timeout_s,
                shadow_sample_percent=settings.shadow_sample_percent,
            )

            def on_crash(exc: BaseException) -> None:
                if worker is not None:
                    worker.agent_crashed(exc)

            app = create_app(settings, processor, AppHooks(health, source.take, on_crash, metrics))
            worker = ModerationWorker(app, settings.stop_deadline_s)
            source.start()
            with contextlib.suppress(SystemExit):  # mode ends its run with SystemExit(0)
                worker.execute_from_commandline()
    finally:
        health.set(HealthStatus.STOPPED)
        probes.stop()
        source.close()
    if worker is not None and worker.agent_crash is not None:
        log.critical("worker_exit_after_agent_crash", exit_status=EXIT_AGENT_CRASHED)
        return EXIT_AGENT_CRASHED
    return 0


def _serve_metrics(
    settings: WorkerSettings, health: HealthFile, source: PolicySource, registry: PromptRegistry, metrics: WorkerMetrics
) -> Probes:
    """Start the Kafka/Redis probes and, unless PLD_METRICS_PORT is 0, the /metrics and /health endpoint."""
    probes = Probes(settings.kafka_bootstrap, registry.client.ping, settings.kafka_security.ssl_context())
    probes.start()
    if settings.metrics_port:
        reports: dict[str, Report] = {
            "/health": lambda: health_report(health, probes, source.model_loaded),
            "/livez": lambda: liveness_report(health),
            "/readyz": lambda: readiness_report(health, probes, source.model_loaded),
        }
        try:
            serve(settings.metrics_host, settings.metrics_port, metrics, reports)
        except OSError as exc:  # e.g. a second worker on this machine without a port of its own
            log.warning("metrics_port_unavailable", port=settings.metrics_port, error=str(exc))
    return probes


def _policy_source(
    settings: WorkerSettings, health: HealthFile, registry: PromptRegistry, metrics: WorkerMetrics
) -> PolicySource:
    """Where each batch's policy comes from: a pinned file, or the registry's pointers (hot reload).

    Starting a worker never moves a pointer: an empty registry is served the shipped default policy
    locally until someone publishes (`pld prompt publish`)."""
    if settings.prompt_file is not None:
        pinned = PinnedPolicy(build_served_student(settings, load_prompt_file(settings.prompt_file)))
        metrics.set_prompts(pinned.current.roles())
        return pinned
    return PolicyWatcher(
        registry,
        lambda prompt: build_served_student(settings, prompt),
        last_good_file=settings.cache_dir / LAST_GOOD_DIR / f"{settings.app_id}.json",
        default=default_prompt(),
        health=health,
        poll_s=settings.prompt_poll_s,
        metrics=metrics,
    )


def _log_ready(settings: WorkerSettings, policy: ServingPolicy, health: HealthFile) -> None:
    student = policy.production
    load = student.prefix_load
    log.info(
        "worker_ready",
        worker_id=settings.worker_id,
        prompt_version=student.prompt.version,
        prompt_sha256=student.prompt.sha256,
        served_as=policy.role.value,
        generation=policy.generation,
        canary=policy.canary.prompt.version if policy.canary else None,
        shadow=policy.shadow.prompt.version if policy.shadow else None,
        model=student.model_id.file_name,
        scoring_mode=student.mode.value,
        decode=settings.decode.value,
        prefix_source=load.source if load else None,
        prefix_load_s=round(load.seconds, 3) if load else None,
        prefix_state_mb=round(state_megabytes(load), 2) if load else None,
        health_file=str(health.path),
    )
