"""`pld bench policy`: what the shipped moderation policy costs the serving student, side by side.

The shipped default prompt (instructions, exemplars, this student's calibration) against its matched
baseline (the same task text and labels, no instructions or exemplars), on the same student built by the
worker's factory, same batches of sample messages, alternating rounds so a noisy machine moves both alike.
"""

import time
from typing import TYPE_CHECKING, Any

from distiller.assembly import baseline_prompt
from pld.bench.batches import BATCH, classify_in_batches
from pld.traffic import sample_texts
from stream.prompts import default_prompt
from stream.student import StudentSettings, build_student

if TYPE_CHECKING:
    from stream.student import LlamaStudent

ROUNDS = 3


def run_policy_bench(settings: StudentSettings, messages: int = 64) -> dict[str, Any]:
    """Messages per second of the shipped policy and of its matched baseline; the policy's cost as a ratio."""
    texts = sample_texts(messages)
    shipped = default_prompt()
    baseline = baseline_prompt(shipped, f"{shipped.version}.baseline")
    seconds = {"policy": 0.0, "baseline": 0.0}
    students = {"policy": build_student(settings, shipped), "baseline": build_student(settings, baseline)}
    try:
        tokens = {name: student.prefix_token_count for name, student in students.items()}
        for student in students.values():
            classify_in_batches(student, texts[:BATCH])  # warm-up
        for _ in range(ROUNDS):
            for name, student in students.items():
                seconds[name] += _timed_classify(student, texts)
    finally:
        for student in students.values():
            student.close()
    rates = {name: ROUNDS * len(texts) / total for name, total in seconds.items()}
    return {
        "student": settings.student,
        "prompt_version": shipped.version,
        "policy_prompt_tokens": tokens["policy"],
        "baseline_prompt_tokens": tokens["baseline"],
        "policy_msgs_per_s": rates["policy"],
        "baseline_msgs_per_s": rates["baseline"],
        "policy_cost": 1.0 - rates["policy"] / rates["baseline"],  # share of the baseline's msgs/s the policy costs
        "messages": len(texts) * ROUNDS,
    }


def _timed_classify(student: "LlamaStudent", texts: list[str]) -> float:
    started = time.perf_counter()
    classify_in_batches(student, texts)
    return time.perf_counter() - started
