"""The drift tests' statistics: flags need both a small p-value and a large enough effect. The MMD
estimate and its permutation p-value are pinned against a brute-force computation from their
definitions; each flag is checked at its exact boundaries."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from scipy import stats

from alexnet_pipeline.drift.statistics import TestResult as Result  # pytest collects Test* names
from alexnet_pipeline.drift.statistics import categorical_shift, mmd_shift, numeric_shift

KS = "kolmogorov-smirnov"


def _relu_sample(rng: np.random.Generator, rows: int, shift: float = 0.0) -> np.ndarray:
    projection = np.random.default_rng(7).normal(size=(16, 64))
    return np.maximum(rng.normal(size=(rows, 16)) @ projection + shift, 0).astype(np.float32)


def _up(value: float) -> float:
    return math.nextafter(value, math.inf)


def _brute_mmd2(points: list[list[float]], first: list[int]) -> float:
    """Unbiased MMD^2 between the points indexed by `first` and the others, by explicit loops:
    Gaussian kernel exp(-|a - b|^2 / h), h the median of the pooled pairwise squared distances
    over i < j (1 when that median is 0)."""
    total = len(points)

    def squared(i: int, j: int) -> float:
        return sum((a - b) ** 2 for a, b in zip(points[i], points[j], strict=True))

    pairs = [squared(i, j) for i in range(total) for j in range(i + 1, total)]
    bandwidth = statistics.median(pairs) or 1.0

    def mean_kernel(rows: list[int], columns: list[int], same: bool) -> float:
        values = [math.exp(-squared(i, j) / bandwidth)
                  for i in rows for j in columns if not (same and i == j)]
        return sum(values) / len(values)

    second = [i for i in range(total) if i not in first]
    return (mean_kernel(first, first, True) + mean_kernel(second, second, True)
            - 2 * mean_kernel(first, second, False))


def _normal(seed: int, rows: int, mean: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, scale, size=(rows, 3))


SMALL_CASES = {
    "5 vs 6 in 3 dimensions": (_normal(11, 5), _normal(12, 6, 0.4, 1.3)),
    "2 vs 2, the smallest": (np.array([[0.0, 1.0], [2.0, 0.5]]),
                             np.array([[1.0, 1.0], [3.0, -1.0]])),
    "a median distance of 0": (np.zeros((5, 2)),
                               np.vstack([np.zeros((4, 2)), [[1.0, 2.0], [0.0, 3.0]]])),
    # far from the origin: in float32 arithmetic |a|^2 + |b|^2 - 2ab would lose the distances
    "float32 embeddings": (_normal(13, 4, 100.0).astype(np.float32),
                           _normal(14, 5, 100.0).astype(np.float32)),
}


@pytest.mark.parametrize("case", sorted(SMALL_CASES))
def test_mmd_statistic_is_the_unbiased_estimate_computed_by_hand(case: str) -> None:
    old, new = SMALL_CASES[case]
    points = np.concatenate([old, new]).tolist()
    expected = _brute_mmd2(points, list(range(len(old))))
    result = mmd_shift(old, new, permutations=20, seed=0, p_threshold=0.5)
    assert result.test == "mmd"
    assert result.statistic == pytest.approx(expected, abs=1e-9)
    assert result.effect == pytest.approx(max(expected, 0.0), abs=1e-9)


def test_mmd_p_value_counts_the_permutations_at_least_as_large_with_the_same_draws() -> None:
    old, new = SMALL_CASES["5 vs 6 in 3 dimensions"]
    points = np.concatenate([old, new]).tolist()
    observed = _brute_mmd2(points, [0, 1, 2, 3, 4])
    permutations, seed = 60, 4
    rng = np.random.default_rng(seed)  # mmd_shift's draws: one permutation of all 11 per row
    permuted = [_brute_mmd2(points, sorted(rng.permutation(11)[:5].tolist()))
                for _ in range(permutations)]
    at_least = sum(value >= observed - 1e-12 for value in permuted)
    assert 0 < at_least < permutations  # the count itself is tested, not an extreme
    result = mmd_shift(old, new, permutations, seed, p_threshold=0.5)
    assert result.p_value == (1 + at_least) / (1 + permutations)
    assert result.drifted is (result.p_value < 0.5)


def test_mmd_p_value_counts_ties_and_exactly_the_permutations_asked_for() -> None:
    """2 against 3 points: 10 possible splits. Seed 3 draws the observed split itself 3 times (a
    tie, counted: at least as large) and 4 splits with a larger MMD^2, so p = (1 + 3 + 4) / 31;
    its 31st draw would count too, so one permutation too many would show."""
    old = np.random.default_rng(21).normal(size=(2, 2))
    new = np.random.default_rng(22).normal(size=(3, 2))
    points = np.concatenate([old, new]).tolist()
    observed = _brute_mmd2(points, [0, 1])
    rng = np.random.default_rng(3)
    draws = [sorted(rng.permutation(5)[:2].tolist()) for _ in range(31)]
    values = [_brute_mmd2(points, draw) for draw in draws]
    same = sum(draw == [0, 1] for draw in draws[:30])
    larger = sum(value > observed + 1e-9 for value in values[:30])
    assert (same, larger) == (3, 4) and values[30] > observed
    assert all(abs(value - observed) > 1e-9
               for draw, value in zip(draws, values, strict=True) if draw != [0, 1])
    assert mmd_shift(old, new, 30, seed=3, p_threshold=0.5).p_value == (1 + same + larger) / 31


def test_mmd_flags_only_below_the_p_value_threshold() -> None:
    """9 permutations and a sample far apart: no permutation reaches the observed split, so the
    p-value is exactly 1/10. At a threshold of exactly 0.1 that is not drift; just above it is."""
    old, new = np.zeros((4, 2)), np.full((4, 2), 10.0)
    at = mmd_shift(old, new, 9, seed=1, p_threshold=0.1)
    assert at.p_value == 0.1 and at.statistic > 0 and not at.drifted
    assert mmd_shift(old, new, 9, seed=1, p_threshold=_up(0.1)).drifted


def test_mmd_separates_a_shift_from_the_same_distribution() -> None:
    rng = np.random.default_rng(0)
    reference = _relu_sample(rng, 60)
    same = mmd_shift(reference, _relu_sample(rng, 60), 199, seed=1, p_threshold=0.01)
    shifted = mmd_shift(reference, _relu_sample(rng, 60, shift=1.0), 199, seed=1, p_threshold=0.01)
    assert not same.drifted and same.p_value > 0.01
    assert shifted.drifted and shifted.p_value == 1 / 200 and shifted.statistic > 0
    other = _relu_sample(np.random.default_rng(5), 60)
    seeded = mmd_shift(reference, other, 50, seed=3, p_threshold=0.1)
    assert seeded == mmd_shift(reference, other, 50, 3, 0.1)
    assert seeded != mmd_shift(reference, other, 50, 4, 0.1)


@pytest.mark.parametrize(("old", "new"), [(1, 5), (5, 1), (0, 0), (1, 1)])
def test_mmd_of_fewer_than_two_points_a_side_is_no_test(old: int, new: int) -> None:
    result = mmd_shift(_normal(0, old), _normal(1, new, 50.0), 20, seed=0, p_threshold=0.9)
    assert result == Result("mmd", 0.0, 1.0, 0.0, False)


def test_mmd_effect_is_never_negative() -> None:
    """The unbiased estimate can fall below 0 for samples of one distribution; the effect cannot."""
    old, new = np.array([[0.0], [1.0], [2.0]]), np.array([[0.5], [1.5], [1.0]])
    result = mmd_shift(old, new, 10, seed=0, p_threshold=0.5)
    assert result.statistic < 0 and result.effect == 0.0
    by_hand = _brute_mmd2([[0.0], [1.0], [2.0], [0.5], [1.5], [1.0]], [0, 1, 2])
    assert result.statistic == pytest.approx(by_hand, abs=1e-12)


def _chi_square_by_hand(old: list[int], new: list[int]) -> tuple[float, float]:
    """Pearson's chi-square of homogeneity without continuity correction, and its p-value."""
    rows, columns = [old, new], list(zip(old, new, strict=True))
    total = sum(old) + sum(new)
    chi2 = 0.0
    for r, c in itertools.product(range(2), range(len(old))):
        expected = sum(rows[r]) * sum(columns[c]) / total
        chi2 += (rows[r][c] - expected) ** 2 / expected
    return chi2, float(stats.chi2.sf(chi2, len(old) - 1))


def test_categorical_shift_is_pearsons_chi_square_and_the_total_variation() -> None:
    result = categorical_shift({"a": 50, "b": 50}, {"a": 75, "b": 25}, 0.05, 0.1)
    chi2, p_value = _chi_square_by_hand([50, 50], [75, 25])
    assert result.test == "chi-square"
    assert result.statistic == pytest.approx(chi2, rel=1e-12)  # 2x2 without Yates' correction
    assert result.p_value == pytest.approx(p_value, rel=1e-9) and result.p_value < 0.05
    assert result.effect == 0.25  # half of |0.5 - 0.75| + |0.5 - 0.25|
    assert result.drifted
    three = categorical_shift({"a": 10, "b": 20, "c": 30}, {"a": 30, "c": 10}, 0.05, 0.1)
    assert three.statistic == pytest.approx(_chi_square_by_hand([10, 20, 30], [30, 0, 10])[0],
                                            rel=1e-12)
    total_variation = 0.5 * (abs(1 / 6 - 3 / 4) + 2 / 6 + abs(3 / 6 - 1 / 4))
    assert three.effect == pytest.approx(total_variation, abs=1e-12)
    single = categorical_shift({"a": 10, "b": 10, "c": 1}, {"a": 10, "b": 10}, 0.05, 0.1)
    assert single.statistic == pytest.approx(_chi_square_by_hand([10, 10, 1], [10, 10, 0])[0],
                                             rel=1e-12)


BOUNDARIES = [
    ("effect exactly min_effect: drift", 0.05, "effect", True),
    ("min_effect one step above the effect: none", 0.05, "above effect", False),
    ("p exactly the threshold: none", "p", 0.1, False),
    ("the threshold one step above p: drift", "above p", 0.1, True),
]


def _boundary(test, old, new, p_threshold, min_effect) -> tuple[float, Result]:
    """`test` run with a threshold or a minimum effect at the exact figure it computes."""
    free = test(old, new, 0.5, 0.0)
    threshold = {"p": free.p_value, "above p": _up(free.p_value)}.get(p_threshold, p_threshold)
    effect = {"effect": free.effect, "above effect": _up(free.effect)}.get(min_effect, min_effect)
    return free.effect, test(old, new, threshold, effect)


@pytest.mark.parametrize(("case", "p_threshold", "min_effect", "drifted"), BOUNDARIES)
def test_categorical_shift_flags_at_its_exact_boundaries(case, p_threshold, min_effect,
                                                         drifted: bool) -> None:
    effect, result = _boundary(categorical_shift, {"a": 50, "b": 50}, {"a": 75, "b": 25},
                               p_threshold, min_effect)
    assert effect == 0.25 and result.drifted is drifted


@pytest.mark.parametrize(("case", "p_threshold", "min_effect", "drifted"), BOUNDARIES)
def test_numeric_shift_flags_at_its_exact_boundaries(case, p_threshold, min_effect,
                                                     drifted: bool) -> None:
    effect, result = _boundary(numeric_shift, list(range(100)), list(range(50, 150)), p_threshold,
                               min_effect)
    assert effect == 0.5 and result.drifted is drifted


def test_a_significant_but_tiny_class_shift_is_not_drift() -> None:
    big = {"a": 50_000, "b": 50_000}
    slightly = categorical_shift(big, {"a": 51_000, "b": 49_000}, p_threshold=0.001, min_effect=0.1)
    assert slightly.p_value < 0.001 and round(slightly.effect, 6) == 0.01 and not slightly.drifted


@pytest.mark.parametrize(("old", "new"), [
    ({"a": 5}, {"a": 9}),  # one category: nothing to compare
    ({}, {"a": 3, "b": 4}),  # an empty side
    ({"a": 3, "b": 4}, {"a": 0, "b": 0}),
    ({}, {}),
])
def test_categorical_shift_without_two_categories_and_two_sides_is_no_test(old, new) -> None:
    assert categorical_shift(old, new, 0.5, 0.0) == Result("chi-square", 0.0, 1.0, 0.0, False)


def test_categories_empty_on_both_sides_are_left_out() -> None:
    with_empty = categorical_shift({"a": 10, "b": 20, "z": 0}, {"a": 25, "b": 5, "z": 0}, 0.05, 0.1)
    assert with_empty == categorical_shift({"a": 10, "b": 20}, {"a": 25, "b": 5}, 0.05, 0.1)
    assert with_empty.drifted


def _ks_distance_by_hand(old: list[float], new: list[float]) -> float:
    """The largest gap between the two empirical distribution functions, at every observed value."""
    def below(values: list[float], x: float) -> float:
        return sum(v <= x for v in values) / len(values)

    return max(abs(below(old, x) - below(new, x)) for x in old + new)


def test_numeric_shift_is_the_ks_distance_and_ignores_missing_values() -> None:
    old, new = [float(v) for v in range(100)], [float(v) for v in range(50, 150)]
    missing = [None, float("nan"), float("inf")]
    result = numeric_shift(old + missing, new + [float("-inf")], 0.05, 0.1)
    assert result.test == KS
    assert result.statistic == result.effect == _ks_distance_by_hand(old, new) == 0.5
    assert result.p_value == pytest.approx(stats.ks_2samp(old, new).pvalue, rel=1e-12)
    assert result.drifted and result == numeric_shift(old, new, 0.05, 0.1)


def test_ks_flags_a_darker_distribution() -> None:
    rng = np.random.default_rng(0)
    bright = list(rng.normal(130, 20, 200))
    same = numeric_shift(bright, list(rng.normal(130, 20, 200)) + [None], 0.001, 0.1)
    assert same.drifted is False
    darker = numeric_shift(bright, list(rng.normal(75, 12, 200)), 0.001, 0.1)
    assert darker.drifted and darker.effect > 0.8


@pytest.mark.parametrize(("old", "new"),
                         [([], [1.0]), ([1.0, 2.0], []), ([None, float("nan")], [1.0]), ([], [])])
def test_numeric_shift_without_values_on_both_sides_is_no_test(old, new) -> None:
    assert numeric_shift(old, new, 0.5, 0.0) == Result(KS, 0.0, 1.0, 0.0, False)


def test_as_json_rounds_the_figures_to_six_places() -> None:
    result = Result("mmd", 0.12345678, 0.0000004, 1.0, True)
    assert result.as_json() == {"test": "mmd", "statistic": 0.123457, "p_value": 0.0, "effect": 1.0,
                                "drifted": True}
