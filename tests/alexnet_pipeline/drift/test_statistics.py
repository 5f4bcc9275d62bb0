"""The drift tests' statistics: flags need both a small p-value and a large enough effect."""

from __future__ import annotations

import numpy as np

from alexnet_pipeline.drift.statistics import categorical_shift, mmd_shift, numeric_shift


def _relu_sample(rng: np.random.Generator, rows: int, shift: float = 0.0) -> np.ndarray:
    projection = np.random.default_rng(7).normal(size=(16, 256))
    return np.maximum(rng.normal(size=(rows, 16)) @ projection + shift, 0).astype(np.float32)


def test_mmd_separates_a_shift_from_the_same_distribution() -> None:
    rng = np.random.default_rng(0)
    reference = _relu_sample(rng, 100)
    same = mmd_shift(reference, _relu_sample(rng, 100), 1000, seed=1, p_threshold=0.001)
    shifted = mmd_shift(reference, _relu_sample(rng, 100, shift=1.0), 1000, seed=1, p_threshold=0.001)
    assert not same.drifted and same.p_value > 0.01
    assert shifted.drifted and shifted.p_value == 1 / 1001 and shifted.statistic > 0
    other = _relu_sample(np.random.default_rng(5), 100)
    assert mmd_shift(reference, other, 500, seed=3, p_threshold=0.001) == mmd_shift(reference, other, 500, 3, 0.001)


def test_a_significant_but_tiny_class_shift_is_not_drift() -> None:
    big = {"a": 50_000, "b": 50_000}
    slightly = categorical_shift(big, {"a": 51_000, "b": 49_000}, p_threshold=0.001, min_effect=0.1)
    assert slightly.p_value < 0.001 and round(slightly.effect, 6) == 0.01 and not slightly.drifted
    skewed = categorical_shift({"a": 30, "b": 30}, {"a": 150, "b": 30}, p_threshold=0.001, min_effect=0.1)
    assert skewed.drifted and round(skewed.effect, 3) == round(150 / 180 - 0.5, 3)


def test_ks_flags_a_darker_distribution_and_ignores_missing_values() -> None:
    rng = np.random.default_rng(0)
    bright = list(rng.normal(130, 20, 200))
    assert numeric_shift(bright, list(rng.normal(130, 20, 200)) + [None], 0.001, 0.1).drifted is False
    darker = numeric_shift(bright, list(rng.normal(75, 12, 200)), 0.001, 0.1)
    assert darker.drifted and darker.effect > 0.8
    assert numeric_shift([], [1.0], 0.001, 0.1).p_value == 1.0
