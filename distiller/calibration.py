"""Per-label decision biases fitted on the dev split: the same procedure for every system compared.

Each label gets an additive bias on its log-probability; coordinate ascent over a grid picks the
biases that maximise the objective on dev: macro-F1 by default, or for moderation `hold-balance`, the
smaller of harmful-held and benign-allowed (what a moderator is short of), macro-F1 breaking ties.
Macro-F1 alone lets a class of 9 dev examples (`review`) weigh a third of the score and can trade many
benign messages held for it. The content-free calibration inside the student stays as it is;
this only moves the decision thresholds, and only with dev data. The fitted biases become a
`LabelCalibration` inside the prompt version, which the student applies (`apply_label_biases`)
wherever it runs, so the evaluated decision rule is the served one.

With a taxonomy the calibration also carries a `CertainAction`: the most severe label (block) is kept
for messages whose P(default) is at most a bound, the highest at which the dev messages still blocked
are harmful at least `AUTO_ACTION_PRECISION` of the time; the others get the next label (review). On
v5 with Qwen 1.5B, 16 of the 17 benign dev messages it held were blocked, with P(allow) from 0.02 to
0.46, while half the harmful ones it blocked sat below 0.02: a bound separates what may be removed
unseen from what a person should look at.
"""

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from distiller.examples import Example
from schemas import CertainAction, LabelCalibration, PromptVersion
from stream.student import LOG_FLOOR, Classification, StudentModel, apply_label_biases

BIAS_GRID = np.linspace(-3.0, 3.0, 25)
PASSES = 3
MACRO_F1 = "macro-f1"
HOLD_BALANCE = "hold-balance"
OBJECTIVES = (MACRO_F1, HOLD_BALANCE)
HOLD_AUC = "hold-auc"  # ROC AUC of P(review) + P(block) against harmful: what the moderation targets rank by
ABLATION_OBJECTIVES = (MACRO_F1, HOLD_AUC)  # what `pld select` keeps a rule by (distiller.selection)
TIE_BREAK = 0.01  # hold-balance: macro-F1's weight, enough to order equal balances and never to outweigh one
AUTO_ACTION_PRECISION = 0.95  # of the dev messages blocked unseen, at least this share must be harmful
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
    log_probs = log_probabilities(results, labels)
    biases, dev_macro_f1 = fit_biases(log_probs, gold, score)
    biased = apply_label_biases(np.exp(log_probs), biases)
    certain = fit_certain_action(biased, gold, prompt) if prompt.categories else None
    if certain is not None:
        dev_macro_f1 = _macro_f1(_with_certain_action(biased, prompt, certain), gold, len(labels))
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
        certain_action=certain,
    )


def fit_certain_action(biased: FloatArray, gold: IntArray, prompt: PromptVersion) -> CertainAction | None:
    """The bound on P(default) up to which the most severe label is given unseen: the highest at which the
    dev messages it is given to are harmful at least `AUTO_ACTION_PRECISION` of the time (0 where no bound
    reaches it: then every such message goes to the next label). None for fewer than two held labels."""
    labels = prompt.label_names
    default = labels.index(prompt.default_label)
    held = [label for label in labels if label != prompt.default_label]
    if len(held) < 2:
        return None
    severe, otherwise = held[-1], held[-2]  # labels are listed least severe first
    given = np.argmax(biased, axis=1) == labels.index(severe)
    order = np.argsort(biased[given, default], kind="stable")
    p_default = biased[given, default][order]
    precision = np.cumsum(gold[given][order] != default) / np.arange(1, len(order) + 1)
    reaching = np.flatnonzero(precision >= AUTO_ACTION_PRECISION)
    if len(reaching) == 0:
        return CertainAction(label=severe, otherwise=otherwise, max_default_probability=0.0, dev_precision=1.0)
    last = int(reaching[-1])
    bound = 1.0 if last == len(order) - 1 else float(p_default[last])
    return CertainAction(
        label=severe, otherwise=otherwise, max_default_probability=bound, dev_precision=float(precision[last])
    )


def _with_certain_action(biased: FloatArray, prompt: PromptVersion, certain: CertainAction) -> IntArray:
    """The labels `biased` decides once the certain action softens what it is unsure of."""
    labels = prompt.label_names
    default = labels.index(prompt.default_label)
    decided = [labels[index] for index in np.argmax(biased, axis=1)]
    softened = [certain.label_for(label, float(p)) for label, p in zip(decided, biased[:, default], strict=True)]
    return np.array([labels.index(label) for label in softened], dtype=np.int64)


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
