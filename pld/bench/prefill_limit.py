"""What this CPU can decode: the raw prefill rate (one long sequence per call), in one process and in the
worker's layout of several processes at once, and the message rate it allows for the tokens a message costs.

The served layout matters on a shared box: two single-threaded processes get more from two cores than one
process with two OpenMP threads (measured 1.4x on small decodes), so a limit taken from one two-threaded
process alone is one the served engine can exceed (it did: 1.05 of it on Gemma). The limit is the higher of
the two rates.
"""

import multiprocessing
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from stream.settings import WorkerSettings
from stream.student import MAX_SEQUENCES, ContextSettings, LlamaContext, checked_model_file

RESULT_TIMEOUT_S = 600.0


def prefill_limit(
    settings: WorkerSettings, sequence: list[int], tokens_per_msg: float, engine_rate: float, layout: tuple[int, int]
) -> dict[str, Any]:
    """The limit's figures: raw prefill of `sequence` in one process with the settings' threads and in `layout`
    (processes, threads each) at once, the message rate the faster allows, and the engine's fraction of it."""
    model = checked_model_file(settings).path
    one_process = _prefill_rate(model, settings.n_ctx, settings.n_threads, sequence)
    processes, threads = layout
    served = _prefill_rate_in_processes(model, settings.n_ctx, sequence, processes, threads) if processes > 1 else 0.0
    limit = max(one_process, served) / tokens_per_msg
    return {
        "raw_prefill_tok_per_s": one_process,
        "raw_prefill_served_layout_tok_per_s": served or None,
        "tokens_per_msg": tokens_per_msg,
        "limit_msgs_per_s": limit,
        "fraction_of_limit": engine_rate / limit,
    }


def _prefill_rate(model: Path, n_ctx: int, n_threads: int, sequence: list[int]) -> float:
    """Tokens per second evaluating `sequence` from an empty context, after one warm-up evaluation."""
    llama = LlamaContext(model, ContextSettings(n_ctx=n_ctx, n_seq_max=MAX_SEQUENCES, n_threads=n_threads))
    try:
        llama.evaluate_prefix(sequence)  # warm-up
        started = time.perf_counter()
        llama.evaluate_prefix(sequence)
        return len(sequence) / (time.perf_counter() - started)
    finally:
        llama.close()


def _prefill_rate_in_processes(model: Path, n_ctx: int, sequence: list[int], processes: int, threads: int) -> float:
    """All tokens per second of `processes` children, each evaluating `sequence` once from one barrier."""
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes + 1)
    results = spawn.Queue()
    context = ContextSettings(n_ctx=n_ctx, n_seq_max=MAX_SEQUENCES, n_threads=threads)
    children = [
        spawn.Process(target=_child, args=(model, context, sequence, barrier, results)) for _ in range(processes)
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=RESULT_TIMEOUT_S)
        started = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the children's clocks
        ended: float = max(results.get(timeout=RESULT_TIMEOUT_S) for _ in children)
    finally:
        for child in children:
            child.join(timeout=60)
    return processes * len(sequence) / (ended - started)


def _child(
    model: Path, context: ContextSettings, sequence: list[int], barrier: Barrier, results: "multiprocessing.Queue[Any]"
) -> None:
    llama = LlamaContext(model, context)
    try:
        llama.evaluate_prefix(sequence)  # warm-up
        barrier.wait(timeout=RESULT_TIMEOUT_S)
        llama.evaluate_prefix(sequence)
        results.put(time.perf_counter())
    finally:
        llama.close()
