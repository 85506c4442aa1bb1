"""Deterministic splits, stratified samples and dataset assembly shared by every dataset loader.

An example's split depends only on the sha256 of its group (or id), so the same group lands in the
same split whatever the order or the other examples.
"""

import hashlib
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

import structlog

from distiller.examples import Dataset, Example, Split
from schemas import LabelDefinition

log = structlog.get_logger("distiller.datasets")

DEFAULT_DEV_FRACTION = 0.15
DEFAULT_TEST_FRACTION = 0.3
DEFAULT_SEED = "pld"
BUCKET_BITS = 64  # of the digest: plenty to place a key in [0, 1)
ID_HASH_CHARS = 16


def text_id(prefix: str, text: str) -> str:
    """A stable example id from its text."""
    return f"{prefix}:{_sha256_hex(text)[:ID_HASH_CHARS]}"


def assign_splits(
    examples: Iterable[Example],
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> dict[Split, list[Example]]:
    """Examples by split, from the sha256 of each one's group (or id) mapped into [0, 1).

    Buckets below `test_fraction` are test, the next `dev_fraction` dev, the rest train. Input order is
    kept within each split, and every split is present (possibly empty for tiny inputs).
    """
    if dev_fraction < 0 or test_fraction < 0 or dev_fraction + test_fraction >= 1:
        raise ValueError(f"fractions must be >= 0 and sum below 1, got dev={dev_fraction} test={test_fraction}")
    splits: dict[Split, list[Example]] = {split: [] for split in Split}
    for example in examples:
        splits[split_of(example.group or example.id, dev_fraction, test_fraction)].append(example)
    return splits


def split_of(
    key: str, dev_fraction: float = DEFAULT_DEV_FRACTION, test_fraction: float = DEFAULT_TEST_FRACTION
) -> Split:
    """The split of one group (or id): test below `test_fraction`, then dev, then train."""
    bucket = _bucket(key)
    if bucket < test_fraction:
        return Split.TEST
    return Split.DEV if bucket < test_fraction + dev_fraction else Split.TRAIN


def _bucket(key: str) -> float:
    return int(_sha256_hex(key)[: BUCKET_BITS // 4], 16) / (1 << BUCKET_BITS)


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sample(examples: Iterable[Example], limit: int, seed: str = DEFAULT_SEED) -> list[Example]:
    """At most `limit` examples, stratified by label, ordered by sha256(seed + id).

    Each label gets its share of `limit` (largest remainders round up) and takes its examples in hash
    order, so the pick depends only on the ids and a growing list displaces few earlier picks.
    """
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in sorted(examples, key=_sample_key(seed)):
        by_label[example.label].append(example)
    quotas = _quotas({label: len(group) for label, group in by_label.items()}, limit)
    chosen = [example for label, group in by_label.items() for example in group[: quotas[label]]]
    return sorted(chosen, key=_sample_key(seed))


def _sample_key(seed: str) -> Callable[[Example], str]:
    return lambda example: _sha256_hex(seed + example.id)


def _quotas(counts: dict[str, int], limit: int) -> dict[str, int]:
    """Largest-remainder apportionment of `limit` across labels in proportion to their counts."""
    total, budget = sum(counts.values()), max(limit, 0)
    if budget >= total:
        return counts
    shares = {label: budget * count / total for label, count in counts.items()}
    quotas = {label: math.floor(share) for label, share in shares.items()}
    by_remainder = sorted(shares, key=lambda label: (quotas[label] - shares[label], label))
    for label in by_remainder[: budget - sum(quotas.values())]:
        quotas[label] += 1
    return quotas


def _first_of_each_text(examples: Iterable[Example]) -> list[Example]:
    first: dict[str, Example] = {}
    for example in examples:
        first.setdefault(example.text, example)
    return list(first.values())


def dataset_header(name: str, task: str, labels: Iterable[LabelDefinition], default_label: str) -> Dataset:
    """A dataset's description, before its examples are split."""
    return Dataset(name=str(name), task=task, labels=list(labels), default_label=default_label)


def with_splits(header: Dataset, examples: list[Example], started: float) -> Dataset:
    """The dataset with its examples split, logged as one canonical line with counts and load time."""
    kept = _first_of_each_text(examples)
    dataset = replace(header, splits=assign_splits(kept))
    log.info(
        "dataset_loaded",
        dataset=dataset.name,
        examples=len(kept),
        duplicate_texts_dropped=len(examples) - len(kept),
        splits={split.value: dict(sorted(Counter(e.label for e in dataset.split(split)).items())) for split in Split},
        load_s=round(time.perf_counter() - started, 3),
    )
    return dataset
