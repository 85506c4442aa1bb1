"""Dev-fitted label biases."""

import numpy as np

from distiller.calibration import AUTO_ACTION_PRECISION, fit_biases, fit_certain_action, hold_balance
from stream.student.label_scoring import apply_label_biases
from tests.schemas.helpers import taxonomy_prompt


def test_biases_fix_a_model_that_prefers_one_label() -> None:
    """A constant preference for label 0 is undone by a bias learnt from labelled examples."""
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, size=200)
    signal = np.where(gold == 1, 0.5, -0.5) + rng.normal(0, 0.2, size=200)
    log_probs = np.stack([np.full(200, 1.0), signal], axis=1)  # label 0 always wins without a bias
    biases, dev_macro_f1 = fit_biases(log_probs, gold)
    probabilities = apply_label_biases(np.exp(log_probs), biases)
    predicted = probabilities.argmax(axis=1)
    assert (predicted == gold).mean() > 0.9
    assert dev_macro_f1 > 0.9
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert biases[0] == 0.0


def test_hold_balance_keeps_benign_messages_allowed_where_macro_f1_trades_them_for_a_rare_label() -> None:
    """Three labels, `allow` the default; `review` is rare and the model cannot tell it from `allow`. Fitting for
    macro-F1 buys review recall by holding benign messages; hold-balance keeps both shares high."""
    rng = np.random.default_rng(1)
    gold = np.array([0] * 120 + [1] * 8 + [2] * 72)  # allow, review, block
    harm = np.where(gold == 2, 1.0, 0.0) + rng.normal(0, 0.3, size=gold.size)
    noise = rng.normal(0, 0.3, size=gold.size)  # review's score carries no signal at all
    log_probs = np.stack([np.zeros(gold.size), noise - 0.5, harm - 0.5], axis=1)
    default = 0

    def shares(biases: np.ndarray) -> tuple[float, float]:
        held = (log_probs + biases).argmax(axis=1) != default
        return float(held[gold != default].mean()), float((~held[gold == default]).mean())

    balanced, _ = fit_biases(log_probs, gold, hold_balance(gold, 3, default))
    by_f1, _ = fit_biases(log_probs, gold)
    held, allowed = shares(balanced)
    assert min(held, allowed) >= min(shares(by_f1))
    assert allowed > 0.85
    assert held > 0.8


def test_the_certain_action_bound_keeps_blocking_unseen_only_where_dev_says_it_is_right() -> None:
    """Dev: 10 harmful messages blocked with P(allow) up to 0.03 and 10 benign ones blocked with P(allow) from
    0.10, among harmful ones up to 0.40. The bound stops below the first benign block; a version whose blocks
    are all right gets the bound 1 (nothing softened); one that is never right enough blocks nothing unseen."""
    prompt = taxonomy_prompt()
    harmful_sure = [[p, 0.0, 1.0 - p] for p in np.linspace(0.001, 0.03, 10)]
    benign_unsure = [[p, 0.0, 1.0 - p] for p in np.linspace(0.10, 0.40, 10)]
    harmful_unsure = [[p, 0.0, 1.0 - p] for p in np.linspace(0.12, 0.38, 10)]
    biased = np.array(harmful_sure + benign_unsure + harmful_unsure)
    gold = np.array([2] * 10 + [0] * 10 + [2] * 10)
    certain = fit_certain_action(biased, gold, prompt)
    assert certain is not None
    assert (certain.label, certain.otherwise) == ("block", "review")
    assert 0.03 <= certain.max_default_probability < 0.10
    assert certain.dev_precision >= AUTO_ACTION_PRECISION
    all_right = fit_certain_action(biased[:10], gold[:10], prompt)
    assert all_right is not None
    assert all_right.max_default_probability == 1.0
    never = fit_certain_action(biased[10:20], gold[10:20], prompt)
    assert never is not None
    assert never.max_default_probability == 0.0
