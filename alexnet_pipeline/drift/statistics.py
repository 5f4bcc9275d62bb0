"""Two-sample tests of drift, each with a statistic, a p-value and an effect size, and the
summaries and shared-bin histograms the report plots of two samples.

A test flags drift only when its p-value is below `p_value` and its effect is at least
`min_effect`: at 25,000 images every tiny shift is significant, and a practical threshold on the
effect keeps such shifts from raising alarms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

HISTOGRAM_BINS = 16


@dataclass(frozen=True)
class TestResult:
    """One comparison: the test, its statistic and p-value, the effect and whether it flags drift."""

    test: str
    statistic: float
    p_value: float
    effect: float
    drifted: bool

    def as_json(self) -> dict[str, Any]:
        return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in asdict(self).items()}


def _result(test: str, statistic: float, p_value: float, effect: float, p_threshold: float,
            min_effect: float) -> TestResult:
    return TestResult(test, float(statistic), float(p_value), float(effect),
                      bool(p_value < p_threshold and effect >= min_effect))


def _no_test(test: str) -> TestResult:
    """Too little data for `test`: nothing to compare, so never drift."""
    return TestResult(test, 0.0, 1.0, 0.0, False)


def _finite(values: Sequence[float | None]) -> np.ndarray:
    """The finite numbers of `values`: None and NaN are missing figures, infinities no figures."""
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def summary(values: np.ndarray, places: int = 3) -> dict[str, float]:
    """Minimum, median and maximum, rounded to `places`; {} without values."""
    if values.size == 0:
        return {}
    return {"min": round(float(values.min()), places), "median": round(float(np.median(values)), places),
            "max": round(float(values.max()), places)}


def histogram(old: np.ndarray, new: np.ndarray, places: int = 3) -> dict[str, list[float]]:
    """Both versions' values in the same bins, as fractions, for the report's overlaid plot; the
    edges are rounded to `places`."""
    both = np.concatenate([old, new])
    if both.size == 0:
        return {"edges": [], "reference": [], "current": []}
    edges = np.histogram_bin_edges(both, bins=HISTOGRAM_BINS)

    def share(values: np.ndarray) -> list[float]:
        counts, _ = np.histogram(values, bins=edges)
        return [round(float(c) / max(values.size, 1), 4) for c in counts]

    return {"edges": [round(float(e), places) for e in edges], "reference": share(old), "current": share(new)}


def categorical_shift(old: dict[str, int], new: dict[str, int], p_threshold: float,
                      min_effect: float) -> TestResult:
    """Chi-square test of homogeneity of two count tables (e.g. images per class); the effect is
    the total variation distance between the two proportions (0: same, 1: disjoint)."""
    keys = sorted(set(old) | set(new))
    table = np.array([[old.get(key, 0) for key in keys], [new.get(key, 0) for key in keys]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return _no_test("chi-square")
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    proportions = table / table.sum(axis=1, keepdims=True)
    distance = 0.5 * float(np.abs(proportions[0] - proportions[1]).sum())
    return _result("chi-square", chi2, p_value, distance, p_threshold, min_effect)


def numeric_shift(old: Sequence[float | None], new: Sequence[float | None], p_threshold: float,
                  min_effect: float) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test of the finite values; the effect is the KS distance
    itself (the largest gap between the two cumulative distributions)."""
    old_values, new_values = _finite(old), _finite(new)
    if old_values.size == 0 or new_values.size == 0:
        return _no_test("kolmogorov-smirnov")
    result = stats.ks_2samp(old_values, new_values)
    return _result("kolmogorov-smirnov", result.statistic, result.pvalue, result.statistic, p_threshold, min_effect)


def mmd_shift(old: np.ndarray, new: np.ndarray, permutations: int, seed: int, p_threshold: float) -> TestResult:
    """Maximum mean discrepancy between two samples of embeddings (unbiased MMD^2, Gaussian
    kernel with the median-heuristic bandwidth of the pooled sample) with a permutation p-value,
    (1 + permuted >= observed) / (1 + permutations). The effect is MMD^2 itself; drift is flagged
    on the p-value alone, since MMD^2 has no natural scale. All permutations are evaluated at once
    as matrix products (alibi-detect's MMDDrift gives the same MMD^2, 45x slower: docs/benchmarks.md)."""
    m, n = len(old), len(new)
    if m < 2 or n < 2:
        return _no_test("mmd")
    pooled = np.concatenate([old, new], dtype=np.float64)  # float32 embeddings: sums in float64
    squared = np.sum(pooled * pooled, axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2.0 * pooled @ pooled.T, 0.0)
    upper = distances[np.triu_indices(m + n, k=1)]
    bandwidth = float(np.median(upper)) or 1.0
    kernel = np.exp(-distances / bandwidth)
    np.fill_diagonal(kernel, 0.0)  # the unbiased estimate leaves out each point with itself
    rng = np.random.default_rng(seed)
    first = np.zeros((permutations + 1, m + n))
    first[0, :m] = 1.0  # row 0: the observed split; the others: random relabellings
    for row in first[1:]:
        row[rng.permutation(m + n)[:m]] = 1.0
    second = 1.0 - first
    k_first, k_second = first @ kernel, second @ kernel
    mmd2 = (np.sum(k_first * first, axis=1) / (m * (m - 1))
            + np.sum(k_second * second, axis=1) / (n * (n - 1))
            - 2.0 * np.sum(k_first * second, axis=1) / (m * n))
    observed = float(mmd2[0])
    p_value = (1.0 + float(np.sum(mmd2[1:] >= observed))) / (1.0 + permutations)
    return _result("mmd", observed, p_value, max(observed, 0.0), p_threshold, 0.0)
