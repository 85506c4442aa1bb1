"""Dev-fitted label biases."""

import numpy as np

from distiller.calibration import fit_biases
from stream.student.label_scoring import apply_label_biases


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
