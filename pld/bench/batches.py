"""Classifying a list of messages in the worker's batch size, as every benchmark does."""

import time
from collections.abc import Sequence

from stream.student import Classification, StudentModel

BATCH = 16  # the worker's default `max_batch`
MS_PER_S = 1000.0


def classify_in_batches(student: StudentModel, texts: Sequence[str]) -> list[Classification]:
    """One classification per text, in order, classified BATCH at a time."""
    return [
        result for start in range(0, len(texts), BATCH) for result in student.classify(texts[start : start + BATCH])
    ]


def timed_labels(student: StudentModel, texts: Sequence[str]) -> tuple[list[str], list[float]]:
    """Each text's label, classified BATCH at a time, and each text's latency in ms: the time of its batch,
    since a message in a worker waits for its whole batch."""
    labels: list[str] = []
    latencies: list[float] = []
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        began = time.perf_counter()
        labels += [result.label for result in student.classify(batch)]
        latencies += [(time.perf_counter() - began) * MS_PER_S] * len(batch)
    return labels, latencies
