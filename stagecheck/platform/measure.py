"""Latency as users feel it: the 95th percentile of samples, judged against a soft and a hard budget."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile_95(samples: Sequence[float]) -> float:
    """The nearest-rank 95th percentile: the smallest sample that at least 95% of the samples do
    not exceed (of 10 samples, the slowest; of 20, the second slowest). ValueError if none."""
    if not samples:
        raise ValueError("no samples to take a percentile of")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
