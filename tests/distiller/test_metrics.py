"""Evaluation math: macro-F1, confusion layout, bootstrap CI, ROC AUC, baselines and comparisons."""

import random
import time

import pytest

from distiller.metrics import (
    binary_auc,
    binary_auc_ci,
    evaluate,
    gap_closed,
    intervals_disjoint,
    macro_roc_auc,
    majority_baseline,
    random_baseline,
)

LABELS = ["allow", "review", "block"]


def noisy_predictions(n: int, accuracy: float, seed: int) -> tuple[list[str], list[str]]:
    """Gold labels drawn uniformly and predictions right with probability `accuracy`."""
    rng = random.Random(seed)
    gold = [rng.choice(LABELS) for _ in range(n)]
    return gold, [g if rng.random() < accuracy else rng.choice(LABELS) for g in gold]


def width(interval: tuple[float, float]) -> float:
    """The length of an interval."""
    return interval[1] - interval[0]


def test_perfect_predictions_score_one() -> None:
    """Predictions equal to gold give macro-F1, accuracy and every per-class score of 1."""
    gold = LABELS * 10
    metrics = evaluate(gold, gold, LABELS)
    assert metrics.macro_f1 == 1.0
    assert metrics.accuracy == 1.0
    assert all(c.precision == c.recall == c.f1 == 1.0 for c in metrics.per_class.values())
    assert metrics.macro_f1_ci == (1.0, 1.0)
    assert metrics.n == 30


def test_all_wrong_predictions_score_zero() -> None:
    """Predictions that never match gold give macro-F1 and accuracy of 0."""
    metrics = evaluate(["allow", "block"], ["block", "allow"], ["allow", "block"], bootstrap=50)
    assert metrics.macro_f1 == 0.0
    assert metrics.accuracy == 0.0


def test_label_never_predicted_counts_as_zero_f1() -> None:
    """A label in gold that is never predicted gets F1 0 and still weighs in the macro average."""
    gold = ["allow", "allow", "block", "block"]
    predicted = ["allow", "allow", "allow", "allow"]
    metrics = evaluate(gold, predicted, ["allow", "block"], bootstrap=0)
    # allow: P = 2/4, R = 1, F1 = 2/3; block: never predicted, F1 = 0.
    assert metrics.per_class["allow"].f1 == pytest.approx(2 / 3)
    assert metrics.per_class["block"].precision == 0.0
    assert metrics.per_class["block"].f1 == 0.0
    assert metrics.per_class["block"].support == 2
    assert metrics.macro_f1 == pytest.approx(1 / 3)


def test_label_absent_everywhere_still_counts_in_macro_f1() -> None:
    """A label neither in gold nor predicted contributes F1 0, so macro-F1 averages over all labels."""
    gold = ["allow", "block"]
    metrics = evaluate(gold, gold, LABELS, bootstrap=0)
    assert metrics.per_class["review"].f1 == 0.0
    assert metrics.macro_f1 == pytest.approx(2 / 3)


def test_confusion_rows_are_gold_and_columns_predicted() -> None:
    """`confusion[i][j]` counts gold `labels[i]` predicted as `labels[j]`, in the given label order."""
    gold = ["allow", "allow", "allow", "block", "review"]
    predicted = ["allow", "block", "block", "review", "review"]
    metrics = evaluate(gold, predicted, LABELS, bootstrap=0)
    assert metrics.labels == LABELS
    assert metrics.confusion == [
        [1, 0, 2],  # gold allow
        [0, 1, 0],  # gold review
        [0, 1, 0],  # gold block
    ]
    assert metrics.per_class["allow"].recall == pytest.approx(1 / 3)
    assert metrics.per_class["review"].precision == pytest.approx(1 / 2)


def test_unknown_label_is_rejected() -> None:
    """A prediction outside the label set raises instead of being silently dropped."""
    with pytest.raises(ValueError, match="not in the label set"):
        evaluate(["allow"], ["maybe"], LABELS)


def test_bootstrap_ci_contains_point_estimate() -> None:
    """The 95% CI brackets the macro-F1 it was computed around."""
    gold, predicted = noisy_predictions(300, 0.75, seed=1)
    metrics = evaluate(gold, predicted, LABELS, seed=3)
    low, high = metrics.macro_f1_ci
    assert low < metrics.macro_f1 < high


def test_bootstrap_ci_narrows_with_more_data() -> None:
    """Ten times the items at the same accuracy give a clearly narrower CI."""
    small = evaluate(*noisy_predictions(100, 0.75, seed=1), LABELS)
    large = evaluate(*noisy_predictions(1000, 0.75, seed=1), LABELS)
    assert width(large.macro_f1_ci) < 0.6 * width(small.macro_f1_ci)


def test_bootstrap_is_deterministic_per_seed() -> None:
    """The same seed reproduces the CI exactly."""
    gold, predicted = noisy_predictions(200, 0.7, seed=2)
    assert (
        evaluate(gold, predicted, LABELS, seed=5).macro_f1_ci == evaluate(gold, predicted, LABELS, seed=5).macro_f1_ci
    )


def test_bootstrap_is_fast() -> None:
    """1000 resamples of 500 items take well under a second."""
    gold, predicted = noisy_predictions(500, 0.8, seed=0)
    start = time.perf_counter()
    evaluate(gold, predicted, LABELS, bootstrap=1000)
    assert time.perf_counter() - start < 0.5


def test_auc_is_one_for_perfectly_separated_scores() -> None:
    """Scores that rank every positive above every negative give AUC 1."""
    gold = ["allow", "block", "allow", "block"]
    scores = [{"allow": 0.9, "block": 0.1}, {"allow": 0.2, "block": 0.8}, {"allow": 0.7, "block": 0.3}, {"block": 0.6}]
    assert evaluate(gold, gold, ["allow", "block"], scores, bootstrap=0).auc == 1.0


def test_auc_is_half_for_constant_scores() -> None:
    """Scores that are all equal carry no ranking information: AUC 0.5."""
    gold = ["allow", "review", "block", "allow"]
    scores = [dict.fromkeys(LABELS, 1 / 3)] * 4
    assert macro_roc_auc(gold, LABELS, scores) == 0.5


def test_auc_counts_ties_as_half_and_macro_averages() -> None:
    """A hand-computed case: one tied positive/negative pair counts 1/2, labels are averaged."""
    gold = ["allow", "allow", "block", "block"]
    # allow: pairs (0.9>0.5, 0.9>0.1, 0.5=0.5, 0.5>0.1) -> 3.5/4; block: constant scores -> 0.5.
    scores = [{"allow": a, "block": 0.5} for a in (0.9, 0.5, 0.5, 0.1)]
    assert macro_roc_auc(gold, ["allow", "block"], scores) == pytest.approx((0.875 + 0.5) / 2)


def test_auc_skips_labels_absent_from_gold() -> None:
    """A label with no gold items is left out of the macro average instead of dragging it down."""
    gold = ["allow", "block"]
    scores = [{"allow": 0.9, "block": 0.1, "review": 0.3}, {"allow": 0.1, "block": 0.9, "review": 0.3}]
    assert macro_roc_auc(gold, LABELS, scores) == 1.0


def test_auc_is_none_with_one_class_or_no_scores() -> None:
    """AUC is undefined with a single gold class, and absent without scores."""
    assert macro_roc_auc(["allow", "allow"], LABELS, [{"allow": 0.9}, {"allow": 0.1}]) is None
    assert evaluate(["allow", "block"], ["allow", "block"], LABELS, bootstrap=0).auc is None


def test_majority_baseline_repeats_most_common_label() -> None:
    """The majority baseline predicts the most frequent training label, ties alphabetically."""
    assert majority_baseline(["block", "allow", "block"], 3) == ["block"] * 3
    assert majority_baseline(["block", "allow"], 2) == ["allow"] * 2


def test_random_baseline_is_deterministic_and_respects_weights() -> None:
    """Same seed, same draw; a zero weight is never drawn."""
    first = random_baseline(LABELS, 50, seed=7, weights=[1.0, 0.0, 3.0])
    assert first == random_baseline(LABELS, 50, seed=7, weights=[1.0, 0.0, 3.0])
    assert len(first) == 50
    assert "review" not in first
    assert set(random_baseline(LABELS, 200, seed=1)) == set(LABELS)


def test_gap_closed_edge_cases() -> None:
    """Gap closed is the share of baseline-to-teacher won, None when the teacher is no better."""
    assert gap_closed(0.4, 0.6, 0.8) == pytest.approx(0.5)
    assert gap_closed(0.4, 0.8, 0.8) == pytest.approx(1.0)
    assert gap_closed(0.4, 0.3, 0.8) == pytest.approx(-0.25)
    assert gap_closed(0.4, 0.6, 0.4) is None
    assert gap_closed(0.5, 0.6, 0.4) is None


def test_intervals_disjoint() -> None:
    """Intervals are disjoint only when they share no point, touching endpoints included."""
    assert intervals_disjoint((0.1, 0.2), (0.3, 0.4))
    assert intervals_disjoint((0.3, 0.4), (0.1, 0.2))
    assert not intervals_disjoint((0.1, 0.3), (0.2, 0.4))
    assert not intervals_disjoint((0.1, 0.2), (0.2, 0.4))


def test_auc_interval_holds_the_estimate_and_narrows_with_more_items() -> None:
    """The bootstrap interval of a binary AUC contains the point estimate and shrinks as n grows; one kind only
    gives none."""
    rng = random.Random(0)

    def items(n: int) -> tuple[list[bool], list[float]]:
        positive = [i % 2 == 0 for i in range(n)]
        return positive, [rng.random() + (0.5 if flag else 0.0) for flag in positive]

    small, large = items(40), items(400)
    small_ci, large_ci = binary_auc_ci(*small), binary_auc_ci(*large)
    assert small_ci is not None
    assert large_ci is not None
    estimate = binary_auc(*large)
    assert estimate is not None
    assert large_ci[0] <= estimate <= large_ci[1]
    assert large_ci[1] - large_ci[0] < small_ci[1] - small_ci[0]
    assert binary_auc_ci([True, True], [0.1, 0.2]) is None
