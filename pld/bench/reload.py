"""`pld bench reload`: what a hot policy swap costs a running worker, on real Kafka, Redis and the model.

A worker decides a stream of requests under v1; mid-stream v2 is published (its prefix already in
the cache, as after `pld prompt publish` on a fleet that has seen it). Figures:

- `swap_latency_s`: from the publish to the first decision made by v2 (`decided_at`).
- `cache_build_s`: building v2's student with an empty prefix cache (compute, save, restore, calibrate).
- `max_stall_s`: the longest gap between two consecutive decisions around the swap; against
  `batch_decode_s`, the median time one batch spends in the model.
- `lost` (requests with no decision) and `duplicated` (decisions beyond one per request).
"""

import asyncio
import itertools
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ops.kafka import configured_kafka_port, ensure_kafka
from ops.redis import configured_redis_port, ensure_redis, local_password
from pld.bench.worker_run import start_bench_worker
from pld.traffic import collect, produce, sample_requests
from schemas import ModerationDecision, PromptVersion
from stream.prompts import Pointer, PromptRegistry, starter_prompt
from stream.settings import WorkerSettings
from stream.student import build_student
from stream.topics import ensure_topics

REQUESTS = 400
SWAP_AFTER = 120
SCRATCH_DB = 9
STALL_WINDOW_S = 5.0
READY_TIMEOUT_S = 300.0
MS_PER_S = 1000.0


def run_reload_bench(settings: WorkerSettings) -> dict[str, Any]:
    """Run the swap scenario once; return the figures."""
    kafka = ensure_kafka(configured_kafka_port())
    redis_url = ensure_redis(configured_redis_port()).rsplit("/", 1)[0] + f"/{SCRATCH_DB}"
    run = uuid.uuid4().hex[:8]
    topics = [f"bench-reload-{run}.{name}" for name in ("requests", "decisions", "dlq", "shadow")]
    asyncio.run(ensure_topics(kafka, topics, 1))
    v1, v2 = _versions(run)
    figures = {"cache_build_s": _cache_build_s(settings, v2)}
    build_student(settings, v2).close()  # v2's prefix is now in the cache the worker restores from
    local = settings.model_copy(
        update={"redis_url": redis_url, "redis_password": SecretStr(local_password()), "app_id": f"bench-reload-{run}"}
    )  # the worker's consumer group is its registry namespace too
    registry = PromptRegistry.from_settings(local, publisher=True)
    registry.publish(v1, Pointer.PRODUCTION, who="pld bench reload", why="start")
    worker = start_bench_worker(settings, kafka, redis_url, topics, f"bench-reload-{run}", PLD_PROMPT_POLL_S="1")
    try:
        ids = [f"r-{n}" for n in range(REQUESTS)]
        asyncio.run(produce(kafka, topics[0], sample_requests(REQUESTS, "r")))
        asyncio.run(_decided(kafka, topics, SWAP_AFTER))
        published = time.time()
        registry.publish(v2, Pointer.PRODUCTION, who="pld bench reload", why="swap under load")
        decisions = asyncio.run(_decided(kafka, topics, REQUESTS))
    finally:
        worker.terminate()
        worker.wait(60)
    return figures | _swap_figures(decisions, ids, published, v2.version)


async def _decided(kafka: str, topics: list[str], count: int) -> list[ModerationDecision]:
    outputs = await collect(
        kafka, topics[1], topics[2], done=lambda o: len(o.decided_ids) >= count, timeout_s=READY_TIMEOUT_S * 3
    )
    return outputs.decisions


def _swap_figures(decisions: list[ModerationDecision], ids: list[str], published: float, new: str) -> dict[str, Any]:
    stamps = sorted(d.decided_at.timestamp() for d in decisions)
    first_new = min((d.decided_at.timestamp() for d in decisions if d.prompt_version == new), default=None)
    window = [t for t in stamps if published - STALL_WINDOW_S <= t <= (first_new or published) + STALL_WINDOW_S]
    gaps = [later - earlier for earlier, later in itertools.pairwise(window)]
    batch_decode_s = statistics.median({d.model_ms for d in decisions}) / MS_PER_S  # a batch shares its model_ms
    decided = {d.request_id for d in decisions}
    return {
        "swap_latency_s": None if first_new is None else first_new - published,
        "max_stall_s": max(gaps, default=0.0),
        "batch_decode_s": batch_decode_s,
        "stall_vs_batch": max(gaps, default=0.0) / batch_decode_s if batch_decode_s else None,
        "lost": len(set(ids) - decided),
        "duplicated": len(decisions) - len(decided),
        "requests": len(ids),
        "decided_by_new_version": sum(d.prompt_version == new for d in decisions),
    }


def _versions(run: str) -> tuple[PromptVersion, PromptVersion]:
    starter = starter_prompt()
    return (
        starter.variant(f"bench-{run}-v1"),
        starter.variant(f"bench-{run}-v2", task=starter.task + " When in doubt, hold the message for review."),
    )


def _cache_build_s(settings: WorkerSettings, prompt: PromptVersion) -> float:
    with tempfile.TemporaryDirectory(prefix="pld-bench-reload-") as empty_cache:
        started = time.perf_counter()
        build_student(settings.model_copy(update={"prefix_cache_dir": Path(empty_cache)}), prompt).close()
        return time.perf_counter() - started
