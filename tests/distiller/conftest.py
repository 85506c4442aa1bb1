"""Fixtures shared by the distiller's tests: a three-label StereoSet-like dataset and one example per label."""

import pytest

from distiller.examples import Dataset, Example
from schemas import LabelDefinition

TASK = "Decide whether the sentence, following the context, is a stereotype, an anti-stereotype, or unrelated."


def _dataset() -> Dataset:
    labels = [
        LabelDefinition(name="stereotype", description="The sentence repeats a common belief about the group."),
        LabelDefinition(name="anti_stereotype", description="The sentence contradicts the common belief."),
        LabelDefinition(name="unrelated", description="The sentence has nothing to do with the context."),
    ]
    return Dataset(name="mini-stereoset", task=TASK, labels=labels, default_label="unrelated")


def _example(n: int, label: str) -> Example:
    return Example(id=f"ex-{n}", text=f"Context: item {n}.\nSentence: sentence {n}.", label=label)


@pytest.fixture
def dataset() -> Dataset:
    """A three-label StereoSet-like dataset."""
    return _dataset()


@pytest.fixture
def examples() -> list[Example]:
    """Three examples, one per label."""
    return [_example(0, "stereotype"), _example(1, "anti_stereotype"), _example(2, "unrelated")]
