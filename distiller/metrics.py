"""Evaluation math for `pld eval`: macro-F1 with a bootstrap CI, ROC AUC, baselines and comparisons.

Pure functions over labels and scores; no model code. Invalid input (mismatched lengths, a label
outside the label set, non-finite scores) is a caller bug and raises `ValueError`.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "ClassMetrics",
    "Interval",
    "Metrics",
    "evaluate",
    "gap_closed",
    "intervals_disjoint",
    "macro_roc_auc",
    "majority_baseline",
    "random_baseline",
]

Interval = tuple[float, float]
"""A closed interval (low, high)."""

CI_LEVEL = 0.95
_CI_PERCENTILES = (100 * (1 - CI_LEVEL) / 2, 100 * (1 + CI_LEVEL) / 2)
_MIN_CLASSES_FOR_AUC = 2

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one label; `support` is its count in the gold labels."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Metrics:
    """The scores of one system on one test set.

    `confusion[i][j]` counts items whose gold label is `labels[i]` and predicted label is `labels[j]`.
    `auc` is the macro one-vs-rest ROC AUC, None without probability scores or with fewer than two
    gold classes.
    """

    labels: list[str]
    macro_f1: float
    accuracy: float
    per_class: dict[str, ClassMetrics]
    confusion: list[list[int]]
    macro_f1_ci: Interval
    auc: float | None
    n: int


def evaluate(
    gold: list[str],
    predicted: list[str],
    labels: list[str],
    scores: list[dict[str, float]] | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
) -> Metrics:
    """Score `predicted` against `gold` over `labels` (the order of every table and matrix).

    Macro-F1 is the unweighted mean over all labels, so a label never predicted counts with F1 0.
    The 95% CI comes from `bootstrap` resamples of the items (percentile method); with
    `bootstrap <= 0` it collapses to the point estimate. `scores` (one probability per label per
    item; a missing label counts as 0) enables the ROC AUC.
    """
    _check_inputs(gold, predicted, labels)
    confusion = _confusion(_indices(gold, labels), _indices(predicted, labels), len(labels))
    f1 = _f1_per_label(confusion)
    macro_f1 = float(f1.mean())
    return Metrics(
        labels=list(labels),
        macro_f1=macro_f1,
        accuracy=float(np.trace(confusion) / len(gold)),
        per_class=_class_metrics(confusion, labels),
        confusion=confusion.tolist(),
        macro_f1_ci=_bootstrap_ci(confusion, bootstrap, seed) if bootstrap > 0 else (macro_f1, macro_f1),
        auc=None if scores is None else macro_roc_auc(gold, labels, scores),
        n=len(gold),
    )


def _check_inputs(gold: list[str], predicted: list[str], labels: list[str]) -> None:
    """Reject empty or mismatched inputs and duplicate labels."""
    if not gold:
        raise ValueError("cannot evaluate zero items")
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {labels!r}")


def _indices(values: list[str], labels: list[str]) -> IntArray:
    """Map each value to its position in `labels`."""
    position = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(values) - position.keys())
    if unknown:
        raise ValueError(f"labels {unknown!r} are not in the label set {labels!r}")
    return np.array([position[v] for v in values], dtype=np.int64)


def _confusion(gold: IntArray, predicted: IntArray, n_labels: int) -> IntArray:
    """Counts with rows gold and columns predicted."""
    flat = np.bincount(gold * n_labels + predicted, minlength=n_labels * n_labels)
    return flat.reshape(n_labels, n_labels).astype(np.int64)


def _ratio(numerator: npt.NDArray[np.generic], denominator: npt.NDArray[np.generic]) -> FloatArray:
    """Elementwise numerator / denominator, 0 where the denominator is 0."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _f1_per_label(confusion: npt.NDArray[np.generic]) -> FloatArray:
    """F1 per label of one (L, L) or many (..., L, L) confusion matrices: 2·TP / (gold + predicted)."""
    true_pos = np.diagonal(confusion, axis1=-2, axis2=-1)
    return _ratio(2 * true_pos, confusion.sum(axis=-1) + confusion.sum(axis=-2))


def _class_metrics(confusion: IntArray, labels: list[str]) -> dict[str, ClassMetrics]:
    """Precision, recall, F1 and support per label."""
    true_pos = np.diagonal(confusion)
    precision = _ratio(true_pos, confusion.sum(axis=0))
    recall = _ratio(true_pos, confusion.sum(axis=1))
    f1 = _f1_per_label(confusion)
    support = confusion.sum(axis=1)
    return {
        label: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, label in enumerate(labels)
    }


def _bootstrap_ci(confusion: IntArray, bootstrap: int, seed: int) -> Interval:
    """Percentile CI of macro-F1 over `bootstrap` item resamples.

    Resampling n items with replacement puts a Multinomial(n, cell share) count in each confusion
    cell, so sampling the cells directly is the same bootstrap at a cost independent of n. Like the
    point estimate, a resample that lacks a label entirely scores it F1 0, which widens the CI of
    tiny test sets with rare labels.
    """
    n_labels = confusion.shape[0]
    n = int(confusion.sum())
    cells = np.random.default_rng(seed).multinomial(n, confusion.ravel() / n, size=bootstrap)
    macro = _f1_per_label(cells.reshape(bootstrap, n_labels, n_labels)).mean(axis=-1)
    low, high = np.percentile(macro, _CI_PERCENTILES)
    return float(low), float(high)


def macro_roc_auc(gold: list[str], labels: list[str], scores: list[dict[str, float]]) -> float | None:
    """Macro one-vs-rest ROC AUC over the labels present in `gold`; None with fewer than two of them.

    Each label's AUC is the Mann-Whitney statistic on average ranks, so tied scores count one half.
    """
    if len(scores) != len(gold):
        raise ValueError(f"{len(gold)} gold labels but {len(scores)} score rows")
    present = [label for label in labels if label in set(gold)]
    if len(present) < _MIN_CLASSES_FOR_AUC:
        return None
    gold_array = np.array(gold)
    aucs = [_binary_auc(gold_array == label, _score_column(scores, label)) for label in present]
    return float(np.mean(aucs))


def _score_column(scores: list[dict[str, float]], label: str) -> FloatArray:
    """The score of `label` for every item (0 where missing)."""
    column = np.array([row.get(label, 0.0) for row in scores], dtype=np.float64)
    if not np.all(np.isfinite(column)):
        raise ValueError(f"non-finite score for label {label!r}")
    return column


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks of `values`, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)
    return (last_rank - (counts - 1) / 2)[inverse]


def binary_auc(positive: list[bool], scores: list[float]) -> float | None:
    """ROC AUC of `scores` separating the `positive` items from the rest; None unless both are present."""
    flags = np.array(positive, dtype=bool)
    if flags.all() or not flags.any():
        return None
    return _binary_auc(flags, np.array(scores, dtype=np.float64))


def binary_auc_ci(positive: list[bool], scores: list[float], bootstrap: int = 1000, seed: int = 0) -> Interval | None:
    """Percentile CI of `binary_auc` over `bootstrap` item resamples (those lacking either kind are skipped);
    None unless both kinds are present."""
    flags = np.array(positive, dtype=bool)
    values = np.array(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(bootstrap):
        picked = rng.integers(0, flags.size, flags.size)
        if flags[picked].any() and not flags[picked].all():
            aucs.append(_binary_auc(flags[picked], values[picked]))
    if not aucs:
        return None
    low, high = np.percentile(aucs, _CI_PERCENTILES)
    return float(low), float(high)


def _binary_auc(positive: npt.NDArray[np.bool_], scores: FloatArray) -> float:
    """ROC AUC of `scores` separating `positive` items from the rest (both must be non-empty)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    rank_sum = float(_average_ranks(scores)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def majority_baseline(train_labels: list[str], n: int) -> list[str]:
    """`n` copies of the most frequent training label (ties go to the alphabetically first)."""
    if not train_labels:
        raise ValueError("no training labels to take a majority from")
    counts = Counter(train_labels)
    top = max(counts.values())
    return [min(label for label, count in counts.items() if count == top)] * n


def random_baseline(labels: list[str], n: int, seed: int, weights: list[float] | None = None) -> list[str]:
    """`n` labels drawn independently, uniformly or proportionally to `weights`; same seed, same draw."""
    if not labels:
        raise ValueError("no labels to draw from")
    probabilities = None if weights is None else _normalise(weights, len(labels))
    drawn = np.random.default_rng(seed).choice(len(labels), size=n, p=probabilities)
    return [labels[i] for i in drawn]


def _normalise(weights: list[float], expected: int) -> FloatArray:
    """Weights scaled to sum to 1, after checking their count and sign."""
    array = np.array(weights, dtype=np.float64)
    if array.size != expected:
        raise ValueError(f"{array.size} weights for {expected} labels")
    if np.any(array < 0) or not np.isfinite(array).all() or array.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero: {weights!r}")
    normalised: FloatArray = array / float(array.sum())
    return normalised


def gap_closed(baseline: float, pld: float, teacher: float) -> float | None:
    """Share of the baseline-to-teacher gap that PLD closes; None when the teacher does not beat the baseline."""
    if teacher <= baseline:
        return None
    return (pld - baseline) / (teacher - baseline)


def intervals_disjoint(a: Interval, b: Interval) -> bool:
    """True when the closed intervals share no point."""
    return a[1] < b[0] or b[1] < a[0]
