"""`pld bench engine`: the student engine's speed and determinism figures, side by side in one run.

Every figure comes from the embedded model on real sample messages with a ~1,000-token prompt.
Throughputs are compared as ratios measured in the same process, so a noisy machine moves them together.
"""

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from pld.bench.batches import classify_in_batches
from pld.bench.bench_prompt import bench_prompt, empty_prompt
from pld.bench.modes import compare_modes
from pld.traffic import sample_messages, sample_texts
from schemas import PromptVersion
from stream.student import (
    MAX_SEQUENCES,
    Classification,
    ContextSettings,
    DecodeStrategy,
    LlamaContext,
    LlamaStudent,
    ModelFile,
    StudentSettings,
    WholePromptModel,
    build_student,
    checked_model_file,
    describe_build,
    label_cue,
    llama_system_info,
    message_end,
    render_prefix,
    state_megabytes,
)

T = TypeVar("T")


@dataclass(frozen=True)
class EngineBenchSettings:
    """What the benchmark runs on: the student as the worker builds it from these settings."""

    student: StudentSettings
    messages: int = 32
    naive_messages: int = 4


def run_engine_bench(settings: EngineBenchSettings) -> dict[str, Any]:
    """Measure everything; return the figures as a flat dict (the `--json` output)."""
    texts = _texts(settings.messages)
    prompt = bench_prompt()
    student = settings.student
    model = checked_model_file(student)
    context = ContextSettings(
        n_ctx=student.n_ctx, n_seq_max=MAX_SEQUENCES, n_threads=student.n_threads, repack_weights=student.repack_weights
    )
    figures: dict[str, Any] = {"prompt_tokens": 0, "messages": len(texts), "threads": student.n_threads}
    figures["llama_build"] = describe_build()
    figures["llama_system_info"] = llama_system_info()
    figures |= _raw_prefill(model, prompt, context)
    with tempfile.TemporaryDirectory(prefix="pld-bench-") as cache_dir:
        figures |= _start_up(student.model_copy(update={"prefix_cache_dir": Path(cache_dir)}), prompt)
    figures["restore_speedup"] = figures["prefix_compute_s"] / figures["restore_s"]
    isolated = _student(student, prompt, DecodeStrategy.ISOLATED)
    joint = _student(student, prompt, DecodeStrategy.JOINT)
    try:
        figures["prompt_tokens"] = isolated.prefix_token_count
        figures |= _throughput(isolated, joint, texts)
        figures |= _determinism(isolated, joint, texts)
    finally:
        isolated.close()
        joint.close()
    figures |= _prompt_overhead(student, texts, figures["batched_msgs_per_s"])
    figures |= _naive(model, prompt, texts[: settings.naive_messages], student.n_threads)
    figures |= compare_modes(student)
    figures["speedup"] = figures["batched_msgs_per_s"] / figures["naive_msgs_per_s"]
    figures["equivalent"] = bool(figures["restored_matches"] and figures["isolated_invariant"])
    return figures


def _texts(count: int) -> list[str]:
    return sample_texts(count)


def _student(settings: StudentSettings, prompt: PromptVersion, decode: DecodeStrategy) -> LlamaStudent:
    return build_student(settings.model_copy(update={"decode": decode}), prompt)


def _timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def _start_up(settings: StudentSettings, prompt: PromptVersion) -> dict[str, Any]:
    """Cold start (load + prefix computed and saved), then a restart restoring the saved prefix."""
    cold, cold_s = _timed(lambda: build_student(settings, prompt))
    probe = cold.classify(_texts(4))
    cold.close()
    warm, _ = _timed(lambda: build_student(settings, prompt))
    restored = warm.prefix_load
    matches = restored.source == "restored" and _same(warm.classify(_texts(4)), probe)
    warm.close()
    return {
        "cold_start_s": cold_s,
        "restore_s": restored.seconds,
        "restored_matches": matches,
        "state_mb": state_megabytes(restored),
    }


def _throughput(isolated: LlamaStudent, joint: LlamaStudent, texts: list[str]) -> dict[str, Any]:
    """One message per call vs batches of 16, isolated and joint decoding."""
    _, one_by_one_s = _timed(lambda: [isolated.classify([text]) for text in texts])
    _, isolated_s = _timed(lambda: classify_in_batches(isolated, texts))
    _, joint_s = _timed(lambda: classify_in_batches(joint, texts))
    tokens = _decoded_tokens(joint, texts)
    return {
        "cached_msgs_per_s": len(texts) / one_by_one_s,
        "isolated_batched_msgs_per_s": len(texts) / isolated_s,
        "batched_msgs_per_s": len(texts) / joint_s,
        "batched_tok_per_s": tokens / joint_s,
    }


def _decoded_tokens(student: LlamaStudent, texts: Sequence[str]) -> int:
    return sum(student.decoded_token_count(text) for text in texts)


def _determinism(isolated: LlamaStudent, joint: LlamaStudent, texts: list[str]) -> dict[str, Any]:
    """How far batch composition moves label probabilities, for each decoding strategy."""
    alone = [isolated.classify([text])[0] for text in texts]
    shuffled = list(reversed(texts))
    isolated_batched = list(reversed(classify_in_batches(isolated, shuffled)))
    joint_batched = classify_in_batches(joint, texts)
    return {
        "isolated_invariant": _same(isolated_batched, alone),
        "max_prob_diff": _max_diff(isolated_batched, alone),
        "max_prob_diff_joint": _max_diff(joint_batched, alone),
        "label_flips_joint": sum(a.label != b.label for a, b in zip(joint_batched, alone, strict=True)),
    }


def _same(left: Sequence[Classification], right: Sequence[Classification]) -> bool:
    return [(r.label, r.probabilities) for r in left] == [(r.label, r.probabilities) for r in right]


def _max_diff(left: Sequence[Classification], right: Sequence[Classification]) -> float:
    return max(
        abs(a.probabilities[label] - b.probabilities[label])
        for a, b in zip(left, right, strict=True)
        for label in a.probabilities
    )


def _prompt_overhead(settings: StudentSettings, texts: list[str], full_rate: float) -> dict[str, Any]:
    """Per-message cost of the ~1,000-token prompt against a prompt with no rules, both batched (joint)."""
    empty = _student(settings, empty_prompt(), DecodeStrategy.JOINT)
    try:
        _, empty_s = _timed(lambda: classify_in_batches(empty, texts))
    finally:
        empty.close()
    empty_rate = len(texts) / empty_s
    return {"empty_prompt_msgs_per_s": empty_rate, "prompt_overhead_ms": 1000.0 * (1 / full_rate - 1 / empty_rate)}


def _naive(model: ModelFile, prompt: PromptVersion, texts: list[str], n_threads: int) -> dict[str, Any]:
    """The whole prompt evaluated for every message, from an empty context each time."""
    llm = WholePromptModel(model.path, n_ctx=2048, n_threads=n_threads)
    try:
        template = render_prefix(prompt) + "{}" + message_end() + label_cue()
        prompts = [llm.tokenize(template.format(text)) for text in texts]

        def evaluate_all() -> None:
            for tokens in prompts:
                llm.evaluate(tokens)

        _, seconds = _timed(evaluate_all)
    finally:
        llm.close()
    return {"naive_msgs_per_s": len(texts) / seconds}


def _raw_prefill(model: ModelFile, prompt: PromptVersion, context: ContextSettings) -> dict[str, Any]:
    """llama.cpp alone: one long sequence (the prompt) decoded in one call, same threads; and how far a
    single-call prefill of prompt + message lands from the cached-prefix decoding of the same message."""
    llama = LlamaContext(model.path, context)
    try:
        prefix = llama.tokenize(render_prefix(prompt), parse_special=True, add_bos=True)
        llama.evaluate_prefix(prefix)  # warm-up
        _, seconds = _timed(lambda: llama.evaluate_prefix(prefix))
        suffix = llama.tokenize(sample_messages()[0]["text"], parse_special=False)
        cached = llama.full_logits(suffix)
        llama.evaluate_prefix([prefix[0]])
        fresh = llama.full_logits(prefix[1:] + suffix)
    finally:
        llama.close()
    return {
        "prefix_compute_s": seconds,
        "raw_prefill_tok_per_s": len(prefix) / seconds,
        "fresh_prefill_max_logit_diff": float(np.abs(cached - fresh).max()),
    }
