"""Latency quantiles as every benchmark reports them."""

from collections.abc import Sequence

P99 = 0.99


def quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile of `values` (the value at rank q·n of the sorted values; 0.0 when there are none)."""
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else 0.0
