"""Per-label decision biases fitted on the dev split: the same procedure for every system compared.

Each label gets an additive bias on its log-probability; coordinate ascent over a grid picks the
biases that maximise the objective on dev: macro-F1 by default, or for moderation `hold-balance`, the
smaller of harmful-held and benign-allowed (what a moderator is short of), macro-F1 breaking ties.
Macro-F1 alone lets a class of 9 dev examples (`review`) weigh a third of the score and can trade many
benign messages held for it. The content-free calibration inside the student stays as it is;
this only moves the decision thresholds, and only with dev data. The fitted biases become a
`LabelCalibration` inside the prompt version, which the student applies (`apply_label_biases`)
wherever it runs, so the evaluated decision rule is the served one.
"""

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from distiller.examples import Example
from schemas import LabelCalibration, PromptVersion
from stream.student import LOG_FLOOR, Classification, StudentModel

BIAS_GRID = np.linspace(-3.0, 3.0, 25)
PASSES = 3
MACRO_F1 = "macro-f1"
HOLD_BALANCE = "hold-balance"
OBJECTIVES = (MACRO_F1, HOLD_BALANCE)
TIE_BREAK = 0.01  # hold-balance: macro-F1's weight, enough to order equal balances and never to outweigh one
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Objective = Callable[[IntArray], float]  # predicted label indices -> score on dev


def fit_biases(log_probs: FloatArray, gold: IntArray, objective: Objective | None = None) -> tuple[FloatArray, float]:
    """Biases (one per label) that maximise `objective` (default: macro-F1) of argmax(log_probs + bias), and
    the macro-F1 they reach."""
    n_labels = log_probs.shape[1]
    score_of = objective or (lambda predicted: _macro_f1(predicted, gold, n_labels))
    biases = np.zeros(n_labels)
    best = score_of(np.argmax(log_probs, axis=1))
    for _ in range(PASSES):
        for label in range(1, n_labels):  # label 0 stays the reference
            for value in BIAS_GRID:
                trial = biases.copy()
                trial[label] = value
                score = score_of(np.argmax(log_probs + trial, axis=1))
                if score > best + 1e-12:
                    best, biases = score, trial
    return biases, _macro_f1(np.argmax(log_probs + biases, axis=1), gold, n_labels)


def hold_balance(gold: IntArray, n_labels: int, default: int) -> Objective:
    """The smaller of harmful-held and benign-allowed shares (held: any label but `default`), plus macro-F1
    times `TIE_BREAK`."""
    harmful = gold != default

    def score(predicted: IntArray) -> float:
        held = predicted != default
        held_share = float(held[harmful].mean()) if harmful.any() else 1.0
        allowed_share = float((~held[~harmful]).mean()) if (~harmful).any() else 1.0
        return min(held_share, allowed_share) + TIE_BREAK * _macro_f1(predicted, gold, n_labels)

    return score


def log_probabilities(results: Sequence[Classification], labels: Sequence[str]) -> FloatArray:
    """The students' label log-probabilities, floored as the student floors them before adding biases."""
    probabilities = np.array([[result.probabilities[label] for label in labels] for result in results])
    log_probs: FloatArray = np.log(np.maximum(probabilities, LOG_FLOOR))
    return log_probs


def fit_calibration(
    results: Sequence[Classification],
    dev: Sequence[Example],
    prompt: PromptVersion,
    student: StudentModel,
    dataset_name: str,
    *,
    objective: str = MACRO_F1,
) -> LabelCalibration:
    """A calibration for the student's model and mode from its uncalibrated answers on `dataset_name`'s dev
    examples, fitted for `objective` (one of `OBJECTIVES`; the calibration's `dev_split` names it)."""
    labels = prompt.label_names
    gold = np.array([labels.index(example.label) for example in dev])
    score = hold_balance(gold, len(labels), labels.index(prompt.default_label)) if objective == HOLD_BALANCE else None
    biases, dev_macro_f1 = fit_biases(log_probabilities(results, labels), gold, score)
    fitted_for = "" if objective == MACRO_F1 else f", fitted for {objective}"
    return LabelCalibration(
        model_sha256=student.model_id.sha256,
        scoring_mode=student.mode,
        label_biases={label: float(bias) for label, bias in zip(labels, biases, strict=True)},
        dev_split=f"{dataset_name} dev split, deterministic sample of {len(dev)}{fitted_for}",
        dev_examples=len(dev),
        dev_sha256=examples_digest(dev),
        dev_macro_f1=dev_macro_f1,
        fitted_on=datetime.now(UTC).date(),
    )


def examples_digest(examples: Sequence[Example]) -> str:
    """sha256 over examples' ids and gold labels: which data a calibration or an evaluation came from."""
    lines = "".join(f"{example.id}\t{example.label}\n" for example in examples)
    return hashlib.sha256(lines.encode()).hexdigest()


def _macro_f1(predicted: npt.NDArray[np.int64], gold: npt.NDArray[np.int64], n_labels: int) -> float:
    scores = []
    for label in range(n_labels):
        true_positive = np.sum((predicted == label) & (gold == label))
        denominator = np.sum(predicted == label) + np.sum(gold == label)
        scores.append(2 * true_positive / denominator if denominator else 0.0)
    return float(np.mean(scores))
