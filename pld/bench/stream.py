"""`pld bench stream`: a sustained run of one worker through real Kafka, against the engine's own rate.

The worker is `pld worker` as it runs by default: its decoding processes (`--processes`, default the plan of
`stream/processes.py`: one single-threaded process per core here) share the requests' partitions.
All requests are produced up front (the worker runs saturated), the worker decides them, and the
figures come from the decisions: `msgs_per_s` (first to last decision), end-to-end `p50_ms` /
`p99_ms` (request `created_at` to `decided_at`; saturated, this is mostly time spent queued) and
`worker_p50_ms` / `worker_p99_ms` (batch start to decision), the RSS of the worker and its processes (summed)
over the run (`rss_start_mb` / `rss_end_mb`: mean of the first and last tenth, `rss_growth_pct`), and
`engine_msgs_per_s`: the same student, settings and prompt classifying in batches in this process with every
core, measured in the same run, with `stream_vs_engine` their ratio.
"""

import asyncio
import contextlib
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.kafka import configured_kafka_port, ensure_kafka
from ops.redis import configured_redis_port, ensure_redis
from pld.bench.batches import BATCH, classify_in_batches
from pld.bench.quantiles import P99, quantile
from pld.bench.worker_run import start_bench_worker
from pld.traffic import collect, produce, sample_requests, sample_texts
from schemas import ModerationDecision
from stream.processes import AUTO, plan_for
from stream.prompts import default_prompt
from stream.settings import WorkerSettings
from stream.student import build_served_student, checked_model_file
from stream.topics import ensure_topics

DEFAULT_REQUESTS = 5000
ENGINE_MESSAGES = 96
RSS_SAMPLE_S = 1.0
TENTH = 10
MS_PER_S = 1000.0
KB_PER_MB = 1024.0
SCRATCH_DB = 10


def run_stream_bench(
    settings: WorkerSettings, requests: int = DEFAULT_REQUESTS, processes: int = AUTO
) -> dict[str, Any]:
    """Run one `pld worker` with `processes` decoding processes (AUTO: the plan it follows by default on this
    machine) on topics with one partition per process, then the engine in this process with every core; return
    the figures. `stream_vs_engine` compares what the machine decides through Kafka with what one engine decides
    in a quiet process."""
    model = checked_model_file(settings)
    plan = plan_for(settings.model_copy(update={"worker_processes": processes}), model.path.stat().st_size)
    engine_rate = _engine_rate(settings)
    kafka = ensure_kafka(configured_kafka_port())
    redis_url = ensure_redis(configured_redis_port()).rsplit("/", 1)[0] + f"/{SCRATCH_DB}"
    run = uuid.uuid4().hex[:8]
    topics = [f"bench-stream-{run}.{name}" for name in ("requests", "decisions", "dlq", "shadow")]
    asyncio.run(ensure_topics(kafka, topics, plan.processes))
    # stamped by the producer, so end to end includes the time a request waits in the topic
    messages = sample_requests(requests, "s", created_at=datetime.now(UTC).isoformat())
    produce_started = time.perf_counter()
    asyncio.run(produce(kafka, topics[0], messages))
    produce_rate = requests / (time.perf_counter() - produce_started)  # the broker's side, for sizing
    worker = start_bench_worker(
        settings,
        kafka,
        redis_url,
        topics,
        f"bench-stream-{run}",
        PLD_TOPIC_PARTITIONS=str(plan.processes),
        PLD_WORKER_PROCESSES=str(plan.processes),
        PLD_N_THREADS=str(plan.threads),
    )
    rss = _RssSampler(worker.pid)
    rss.start()
    try:
        outputs = asyncio.run(
            collect(kafka, topics[1], topics[2], done=lambda o: len(o.decided_ids) >= requests, timeout_s=requests)
        )
    finally:
        rss.stop()
        worker.terminate()
        worker.wait(60)
    figures = _figures(outputs.decisions, requests, rss.samples, engine_rate)
    return {
        "processes": plan.processes,
        "threads_per_process": plan.threads,
        "plan": plan.reason,
        "produce_msgs_per_s": produce_rate,
        **figures,
    }


def _figures(
    decisions: list[ModerationDecision], requests: int, rss: list[tuple[float, float]], engine_rate: float
) -> dict[str, Any]:
    stamps = sorted(d.decided_at.timestamp() for d in decisions)
    e2e = sorted((d.decided_at - d.requested_at).total_seconds() * MS_PER_S for d in decisions if d.requested_at)
    worker_ms = sorted(d.latency_ms for d in decisions)
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    first, last = stamps[0], stamps[-1]
    span = (last - first) / TENTH
    start_rss = [mb for t, mb in rss if t <= first + span] or [rss[0][1]]
    end_rss = [mb for t, mb in rss if t >= last - span] or [rss[-1][1]]
    rss_start, rss_end = statistics.mean(start_rss), statistics.mean(end_rss)
    return {
        "requests": requests,
        "decided": len({d.request_id for d in decisions}),
        "duplicated": len(decisions) - len({d.request_id for d in decisions}),
        "msgs_per_s": rate,
        "p50_ms": quantile(e2e, 0.5),
        "p99_ms": quantile(e2e, P99),
        "worker_p50_ms": quantile(worker_ms, 0.5),
        "worker_p99_ms": quantile(worker_ms, P99),
        "mean_batch_size": statistics.mean(d.batch_size for d in decisions),
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_growth_pct": 100.0 * (rss_end - rss_start) / rss_start,
        "engine_msgs_per_s": engine_rate,
        "stream_vs_engine": rate / engine_rate if engine_rate else None,
    }


def _engine_rate(settings: WorkerSettings) -> float:
    """The served student (same factory, settings and default prompt) classifying batches in-process."""
    texts = sample_texts(ENGINE_MESSAGES)
    student = build_served_student(settings, default_prompt())
    try:
        classify_in_batches(student, texts[:BATCH])  # warm-up
        started = time.perf_counter()
        classify_in_batches(student, texts)
        return len(texts) / (time.perf_counter() - started)
    finally:
        student.close()


class _RssSampler:
    """The resident memory of the worker and its decoding processes (summed), sampled every second from /proc."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, StopIteration, ValueError):  # a process that just ended
                self.samples.append((time.time(), sum(_rss_mb(pid) for pid in self._pids())))
            self._stop.wait(RSS_SAMPLE_S)

    def _pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self._pid}/task/{self._pid}/children").read_text().split()
        except OSError:  # a kernel without CONFIG_PROC_CHILDREN: the worker alone
            children = []
        return [self._pid, *map(int, children)]


def _rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / KB_PER_MB
