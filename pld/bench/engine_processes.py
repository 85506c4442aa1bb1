"""The engine as `pld worker` runs it by default: several decoding processes, each with its share of the cores.

Each child builds the student exactly as a worker does (`build_student`, the shipped policy), warms it up,
waits at a barrier with the others, then classifies its share of the messages in the worker's batch size.
The shares carry equal work (`balanced_shares`: each message, in order, to the child with the fewest tokens
so far), as a consumer group's partitions do over a long stream. Dealt every N-th, the peers bench's mix
(every 4th message a long one) gave every long message to one of two children, which decoded ~2.5x the
tokens of the other while the other idled. The rate is all messages over the time from the barrier to the
last child's end: what a machine of N decoding processes decides, model loading left out as in the
one-process figure.
"""

import multiprocessing
import time
from collections.abc import Callable, Sequence
from multiprocessing.synchronize import Barrier
from typing import Any

from pld.bench.batches import BATCH, timed_labels
from pld.bench.quantiles import P99, quantile
from stream.prompts import default_prompt
from stream.settings import WorkerSettings
from stream.student import build_student

RESULT_TIMEOUT_S = 1800.0


def balanced_shares(texts: Sequence[str], processes: int, cost: Callable[[str], int]) -> list[list[int]]:
    """The indices of `texts` dealt to `processes` shares of about equal total `cost`: each text, in order, to the
    share with the least cost so far (the first such share on a tie), so each share keeps the texts' order."""
    shares: list[list[int]] = [[] for _ in range(processes)]
    loads = [0] * processes
    for index, text in enumerate(texts):
        lightest = loads.index(min(loads))
        shares[lightest].append(index)
        loads[lightest] += cost(text)
    return shares


def run_engine_processes(
    settings: WorkerSettings, texts: list[str], processes: int, threads: int, cost: Callable[[str], int] = len
) -> dict[str, Any]:
    """`processes` children with `threads` threads each classify `texts` between them, in shares of equal
    `cost` (the tokens a message decodes; characters by default); return the figures."""
    spawn = multiprocessing.get_context("spawn")  # a clean interpreter: no llama.cpp state copied by fork
    barrier = spawn.Barrier(processes + 1)
    results = spawn.Queue()
    child_settings = settings.model_copy(update={"n_threads": threads})
    shares = balanced_shares(texts, processes, cost)
    children = [
        spawn.Process(target=_child, args=(child_settings, [texts[i] for i in share], index, barrier, results))
        for index, share in enumerate(shares)
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=RESULT_TIMEOUT_S)
        started = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the children's clocks
        done = [results.get(timeout=RESULT_TIMEOUT_S) for _ in children]
    finally:
        for child in children:
            child.join(timeout=60)
    seconds = max(child_result["ended"] for child_result in done) - started
    labels = [""] * len(texts)
    for child_result in done:
        for position, label in zip(shares[child_result["index"]], child_result["labels"], strict=True):
            labels[position] = label
    latencies = sorted(ms for child_result in done for ms in child_result["latencies_ms"])
    return {
        "processes": processes,
        "threads_per_process": threads,
        "msgs_per_s": len(texts) / seconds,
        "p50_ms": quantile(latencies, 0.5),
        "p99_ms": quantile(latencies, P99),
        "cpu_s_per_msg": sum(child_result["cpu_s"] for child_result in done) / len(texts),
        "child_s": sorted(round(child_result["ended"] - started, 2) for child_result in done),
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
