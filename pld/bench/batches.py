"""Classifying a list of messages in the worker's batch size, as every benchmark does."""

from collections.abc import Sequence

from stream.student import Classification, StudentModel

BATCH = 16  # the worker's default `max_batch`


def classify_in_batches(student: StudentModel, texts: Sequence[str]) -> list[Classification]:
    """One classification per text, in order, classified BATCH at a time."""
    return [
        result for start in range(0, len(texts), BATCH) for result in student.classify(texts[start : start + BATCH])
    ]
