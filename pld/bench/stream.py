"""`pld bench stream`: a sustained run of one worker through real Kafka, against the engine's own rate.

All requests are produced up front (the worker runs saturated), the worker decides them, and the
figures come from the decisions: `msgs_per_s` (first to last decision), end-to-end `p50_ms` /
`p99_ms` (request `created_at` to `decided_at`; saturated, this is mostly time spent queued) and
`worker_p50_ms` / `worker_p99_ms` (batch start to decision), the worker's RSS over the run
(`rss_start_mb` / `rss_end_mb`: mean of the first and last tenth, `rss_growth_pct`), and
`engine_msgs_per_s`: the same student, settings and prompt classifying in batches in this process,
measured in the same run, with `stream_vs_engine` their ratio.
"""

import asyncio
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
from stream.prompts import default_prompt
from stream.settings import WorkerSettings
from stream.student import build_served_student
from stream.topics import ensure_topics

DEFAULT_REQUESTS = 5000
ENGINE_MESSAGES = 96
RSS_SAMPLE_S = 1.0
TENTH = 10
MS_PER_S = 1000.0
KB_PER_MB = 1024.0
SCRATCH_DB = 10


def run_stream_bench(settings: WorkerSettings, requests: int = DEFAULT_REQUESTS, workers: int = 1) -> dict[str, Any]:
    """Run the stream and the engine measurement; return the figures. With several `workers` (one consumer
    group, one partition each) the machine's threads are split between them and the engine is measured
    with one worker's share, so `stream_vs_engine` compares the group with one of its members."""
    threads = max(1, settings.n_threads // workers)
    settings = settings.model_copy(update={"n_threads": threads})
    engine_rate = _engine_rate(settings)
    kafka = ensure_kafka(configured_kafka_port())
    redis_url = ensure_redis(configured_redis_port()).rsplit("/", 1)[0] + f"/{SCRATCH_DB}"
    run = uuid.uuid4().hex[:8]
    topics = [f"bench-stream-{run}.{name}" for name in ("requests", "decisions", "dlq", "shadow")]
    asyncio.run(ensure_topics(kafka, topics, workers))
    # stamped by the producer, so end to end includes the time a request waits in the topic
    messages = sample_requests(requests, "s", created_at=datetime.now(UTC).isoformat())
    asyncio.run(produce(kafka, topics[0], messages))
    group = [
        start_bench_worker(
            settings,
            kafka,
            redis_url,
            topics,
            f"bench-stream-{run}",
            log_name=f"bench-stream-{run}-{n}",
            PLD_TOPIC_PARTITIONS=str(workers),
            PLD_N_THREADS=str(threads),
        )
        for n in range(workers)
    ]
    rss = _RssSampler(group[0].pid)
    rss.start()
    try:
        outputs = asyncio.run(
            collect(kafka, topics[1], topics[2], done=lambda o: len(o.decided_ids) >= requests, timeout_s=requests)
        )
    finally:
        rss.stop()
        for worker in group:
            worker.terminate()
        for worker in group:
            worker.wait(60)
    figures = _figures(outputs.decisions, requests, rss.samples, engine_rate)
    return {"workers": workers, "threads_per_worker": threads, **figures}


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
    """The worker's resident memory, sampled every second from /proc."""

    def __init__(self, pid: int) -> None:
        self._status = Path(f"/proc/{pid}/status")
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                line = next(x for x in self._status.read_text().splitlines() if x.startswith("VmRSS:"))
                self.samples.append((time.time(), int(line.split()[1]) / KB_PER_MB))
            except (OSError, StopIteration, ValueError):
                pass
            self._stop.wait(RSS_SAMPLE_S)
