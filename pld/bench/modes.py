"""Compares the scoring modes on the labelled sample traffic: macro-F1, attribution and speed, side by side.

The sample kinds give expected labels (benign -> allow, spam -> review, abusive -> block; borderline
messages have no agreed label and are left out). Thirty messages make a coarse signal, not an evaluation:
`pld eval` on real datasets is the distiller's job.
"""

import time
from typing import Any

import numpy as np

from distiller.metrics import evaluate
from pld.traffic import sample_messages
from schemas import ScoringMode
from stream.prompts import starter_prompt
from stream.student import StudentSettings, build_student

EXPECTED_LABEL = {"benign": "allow", "spam": "review", "abusive": "block"}


def compare_modes(settings: StudentSettings) -> dict[str, Any]:
    """Figures per mode, keyed `<mode>_macro_f1`, `<mode>_msgs_per_s`, `<mode>_cited_per_decision`."""
    samples = [s for s in sample_messages() if s["metadata"]["sample_kind"] in EXPECTED_LABEL]
    texts = [s["text"] for s in samples]
    gold = [EXPECTED_LABEL[s["metadata"]["sample_kind"]] for s in samples]
    figures: dict[str, Any] = {"mode_eval_messages": len(samples)}
    prompt = starter_prompt()
    for mode in ScoringMode:
        student = build_student(settings.model_copy(update={"scoring_mode": mode}), prompt)
        try:
            started = time.perf_counter()
            results = student.classify(texts)
            seconds = time.perf_counter() - started
        finally:
            student.close()
        predicted = [result.label for result in results]
        figures[f"{mode}_macro_f1"] = evaluate(gold, predicted, prompt.label_names, bootstrap=1).macro_f1
        figures[f"{mode}_msgs_per_s"] = len(texts) / seconds
        figures[f"{mode}_cited_per_decision"] = float(np.mean([len(r.instruction_ids) for r in results]))
    return figures
