"""Helpers shared by the distiller's tests: a toy embedding, a toy dataset and pattern, a dataset file."""

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from distiller.examples import Dataset
from distiller.mining import Pattern, Step
from schemas import LabelDefinition

SPAM = ["Win a free phone now, click this link", "Cheap pills, buy now, limited offer", "Earn money fast, send me a DM"]
HAM = ["See you at practice tomorrow", "Thanks for the recipe, it was great", "The meeting moved to Friday"]


def bag_of_words(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """A tiny deterministic embedding: unit-norm word counts."""
    vocabulary = sorted({word for text in texts for word in text.lower().split()})
    rows = np.array([[text.lower().split().count(word) for word in vocabulary] for text in texts], dtype=np.float32)
    unit: npt.NDArray[np.float32] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


DATASET = Dataset(
    name="toy",
    task="Decide whether the sentence is a stereotype.",
    labels=[LabelDefinition(name="stereotype", description="s"), LabelDefinition(name="unrelated", description="u")],
    default_label="unrelated",
)


def pattern(text: str, label: str, examples: list[str], purity: float = 1.0) -> Pattern:
    steps = tuple(Step(text, example, label, False) for example in examples)
    return Pattern(steps, (text,), label, len(examples), purity)


def write_dataset(path: Path) -> Path:
    """Twenty labelled rows, enough for every split."""
    rows = [{"text": f"{text} ({n})", "label": "spam"} for n in range(4) for text in SPAM]
    rows += [{"text": f"{text} ({n})", "label": "ham"} for n in range(4) for text in HAM]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
