"""Candidate tokens and probabilities: from a few logits to a calibrated distribution."""

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from stream.student.errors import PromptError

Probabilities = npt.NDArray[np.float64]
LOG_FLOOR = 1e-12  # a zero probability becomes this before its log, so a bias can still lift it


def first_token_ids(candidates: Sequence[str], tokenize: Callable[[str], list[int]], what: str) -> list[int]:
    """The first token of each candidate text; candidates must not share a first token."""
    token_ids = []
    for candidate in candidates:
        tokens = tokenize(candidate)
        if not tokens:
            raise PromptError(f"{what} {candidate!r} tokenizes to nothing")
        token_ids.append(tokens[0])
    if len(set(token_ids)) != len(token_ids):
        raise PromptError(
            f"{what}s {list(candidates)} share a first token {token_ids}; rename them to score them apart"
        )
    return token_ids


def softmax(logits: npt.NDArray[np.float64]) -> Probabilities:
    """Softmax over the last axis, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: Probabilities = exp / exp.sum(axis=-1, keepdims=True)
    return result


def calibrate(probabilities: Probabilities, content_free: Probabilities) -> Probabilities:
    """Contextual calibration: divide by what the model says for content-free input, renormalise."""
    adjusted = probabilities / np.maximum(content_free, np.finfo(np.float64).tiny)
    result: Probabilities = adjusted / adjusted.sum(axis=-1, keepdims=True)
    return result


def apply_label_biases(probabilities: Probabilities, biases: Probabilities) -> Probabilities:
    """Add per-label biases to the log-probabilities and renormalise (the fitted decision thresholds)."""
    shifted = np.log(np.maximum(probabilities, LOG_FLOOR)) + biases
    exp = np.exp(shifted - shifted.max(axis=-1, keepdims=True))
    result: Probabilities = exp / exp.sum(axis=-1, keepdims=True)
    return result
