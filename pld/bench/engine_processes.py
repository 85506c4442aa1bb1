"""The engine as `pld worker` runs it by default: several decoding processes, each with its share of the cores.

Each child builds the student exactly as a worker does (`build_student`, the shipped policy), warms it up,
waits at a barrier with the others, then classifies its share of the messages (every N-th, so each gets as
many long ones) in the worker's batch size. The rate is all messages over the time from the barrier to the
last child's end: what a machine of N decoding processes decides, model loading left out as in the
one-process figure.
"""

import multiprocessing
import time
from multiprocessing.synchronize import Barrier
from typing import Any

from pld.bench.batches import BATCH, timed_labels
from pld.bench.quantiles import P99, quantile
from stream.prompts import default_prompt
from stream.settings import WorkerSettings
from stream.student import build_student

RESULT_TIMEOUT_S = 1800.0


def run_engine_processes(settings: WorkerSettings, texts: list[str], processes: int, threads: int) -> dict[str, Any]:
    """`processes` children with `threads` threads each classify `texts` between them; return the figures."""
    spawn = multiprocessing.get_context("spawn")  # a clean interpreter: no llama.cpp state copied by fork
    barrier = spawn.Barrier(processes + 1)
    results = spawn.Queue()
    child_settings = settings.model_copy(update={"n_threads": threads})
    children = [
        spawn.Process(target=_child, args=(child_settings, texts[index::processes], index, barrier, results))
        for index in range(processes)
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=RESULT_TIMEOUT_S)
        started = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the children's clocks
        shares = sorted((results.get(timeout=RESULT_TIMEOUT_S) for _ in children), key=lambda share: share["index"])
    finally:
        for child in children:
            child.join(timeout=60)
    seconds = max(share["ended"] for share in shares) - started
    labels = [""] * len(texts)
    for share in shares:
        labels[share["index"] :: processes] = share["labels"]
    latencies = sorted(ms for share in shares for ms in share["latencies_ms"])
    return {
        "processes": processes,
        "threads_per_process": threads,
        "msgs_per_s": len(texts) / seconds,
        "p50_ms": quantile(latencies, 0.5),
        "p99_ms": quantile(latencies, P99),
        "cpu_s_per_msg": sum(share["cpu_s"] for share in shares) / len(texts),
        "labels": labels,
    }


def _child(
    settings: WorkerSettings, texts: list[str], index: int, barrier: Barrier, results: "multiprocessing.Queue[Any]"
) -> None:
    student = build_student(settings, default_prompt())
    try:
        student.classify(texts[:BATCH])  # warm-up, as in the one-process figure
        barrier.wait(timeout=RESULT_TIMEOUT_S)
        cpu = time.process_time()
        labels, latencies = timed_labels(student, texts)
        share = {"index": index, "labels": labels, "latencies_ms": latencies, "cpu_s": time.process_time() - cpu}
        results.put(share | {"ended": time.perf_counter()})
    finally:
        student.close()
