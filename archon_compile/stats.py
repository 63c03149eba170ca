"""Statistics shared by evaluation and the compiler: seeded percentile bootstrap intervals.

One module so that `ac.evaluate`, the compile report and the compiler's verdict compute a CI the same
way, and an `eval` of a compiled artifact reproduces the report's interval exactly (same items, same
order, same seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_RESAMPLES = 2000


def bootstrap_ci(
    values: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float | None, float | None]:
    """A percentile bootstrap 95% CI of the mean (seeded, so a report is reproducible); (None, None)
    for no values."""
    if not values:
        return None, None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def paired_difference_ci(
    a: Sequence[float | None], b: Sequence[float | None], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float | None, float | None]:
    """A bootstrap 95% CI of mean(a - b) over the items both scored (None = not scored), resampling
    items, so that item difficulty shared by both sides cancels."""
    if len(a) != len(b):
        raise ValueError(f"paired scores need the same items: {len(a)} vs {len(b)} values")
    diffs = [x - y for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return bootstrap_ci(diffs, seed, resamples)
