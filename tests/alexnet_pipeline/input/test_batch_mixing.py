"""batch_mixing: distinct classes per batch against a uniform shuffle's expectation."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet_pipeline.input.batch_mixing import (
    batch_mixing,
    expected_distinct,
    uniform_shuffle_spread,
)


def test_expected_distinct_matches_a_simulation() -> None:
    counts = [50, 30, 10, 5, 5]
    labels = np.repeat(np.arange(len(counts)), counts)
    rng = np.random.default_rng(0)
    simulated = np.mean([len(np.unique(rng.permutation(labels)[:12])) for _ in range(20000)])
    assert expected_distinct(counts, 12) == pytest.approx(simulated, abs=0.02)


def test_expected_distinct_edge_cases() -> None:
    assert expected_distinct([10, 10], 1) == pytest.approx(1.0)
    assert expected_distinct([3, 3, 3], 9) == pytest.approx(3.0)  # the whole set: every class
    assert expected_distinct([1] * 100, 64) == pytest.approx(64.0)
    with pytest.raises(ValueError, match="batch size 10"):
        expected_distinct([3, 3], 10)


def test_class_after_class_scores_low_and_a_uniform_shuffle_near_one() -> None:
    labels = np.repeat(np.arange(50), 40)  # 2,000 images, 50 classes, in class order
    in_order = batch_mixing(np.split(labels, range(64, len(labels), 64)))
    assert in_order.min_distinct == 1 and in_order.ratio < 0.1
    shuffled = np.random.default_rng(1).permutation(labels)
    mixed = batch_mixing(np.split(shuffled, range(64, len(labels), 64)))
    spread = uniform_shuffle_spread(labels, 64, draws=100, seed=2)
    assert abs(mixed.mean_distinct - mixed.uniform_mean) < 3 * spread
    assert mixed.batches == 32 and 0.97 < mixed.ratio < 1.03


def test_no_batches_is_an_error() -> None:
    with pytest.raises(ValueError, match="no batches"):
        batch_mixing([])
