"""Turns the logits of the label candidates' first tokens into a label and a probability per label."""

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from stream.errors import PromptError
from stream.student.prompt_format import label_candidate
from stream.student.protocol import Classification


def label_token_ids(labels: Sequence[str], tokenize: Callable[[str], list[int]]) -> list[int]:
    """The first token of each label's candidate text; labels must not share a first token."""
    token_ids = []
    for label in labels:
        tokens = tokenize(label_candidate(label))
        if not tokens:
            raise PromptError(f"label {label!r} tokenizes to nothing")
        token_ids.append(tokens[0])
    if len(set(token_ids)) != len(token_ids):
        raise PromptError(f"labels {list(labels)} share a first token {token_ids}; rename them to score them apart")
    return token_ids


def softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float64] = exp / exp.sum(axis=-1, keepdims=True)
    return result


def classify_rows(labels: Sequence[str], label_logits: npt.NDArray[np.float64]) -> list[Classification]:
    """One classification per row of label logits: argmax label and the softmax over the labels."""
    results = []
    for row in softmax(label_logits):
        probabilities = {label: float(p) for label, p in zip(labels, row, strict=True)}
        results.append(Classification(label=labels[int(np.argmax(row))], probabilities=probabilities))
    return results
