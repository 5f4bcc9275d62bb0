"""paired_comparison: McNemar's exact p-value (checked against scipy's binomial test and by hand),
the paired bootstrap interval (checked against the normal approximation), and Wilson intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from alexnet_pipeline.evaluation.paired_comparison import (
    compare_paired,
    mcnemar_p_value,
    proportion_interval,
)


def _answers(both: int, candidate_only: int, blessed_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    candidate = [True] * both + [True] * candidate_only + [False] * blessed_only + [False] * neither
    blessed = [True] * both + [False] * candidate_only + [True] * blessed_only + [False] * neither
    return np.array(candidate), np.array(blessed)


@pytest.mark.parametrize(("candidate_only", "blessed_only", "p_value"), [
    (0, 0, 1.0), (1, 3, 0.625), (3, 1, 0.625), (0, 5, 0.0625), (0, 6, 0.03125), (10, 10, 1.0), (4, 5, 1.0)])
def test_mcnemar_exact_p_values_by_hand(candidate_only: int, blessed_only: int, p_value: float) -> None:
    assert mcnemar_p_value(candidate_only, blessed_only) == pytest.approx(p_value, abs=1e-12)


@pytest.mark.parametrize(("candidate_only", "blessed_only"), [(10, 25), (25, 10), (3, 40), (100, 130), (1, 0)])
def test_mcnemar_matches_a_two_sided_binomial_test(candidate_only: int, blessed_only: int) -> None:
    expected = stats.binomtest(min(candidate_only, blessed_only), candidate_only + blessed_only, 0.5).pvalue
    assert mcnemar_p_value(candidate_only, blessed_only) == pytest.approx(expected, rel=1e-9)


def test_the_comparison_counts_the_disagreements_and_is_seeded() -> None:
    candidate, blessed = _answers(both=350, candidate_only=10, blessed_only=25, neither=15)
    result = compare_paired(candidate, blessed, 0.95, 10000, seed=42)
    assert {key: result[key] for key in ("images", "difference", "candidate_only", "blessed_only", "test")} == {
        "images": 400, "difference": -0.0375, "candidate_only": 10, "blessed_only": 25, "test": "McNemar exact"}
    assert result["p_value"] == pytest.approx(stats.binomtest(10, 35, 0.5).pvalue)
    assert result == compare_paired(candidate, blessed, 0.95, 10000, seed=42)  # the same draws
    # the normal approximation of the paired difference's interval
    half = 1.959964 * math.sqrt((10 + 25) / 400**2 - 0.0375**2 / 400)
    low, high = result["interval"]
    assert low == pytest.approx(-0.0375 - half, abs=0.004) and high == pytest.approx(-0.0375 + half, abs=0.004)
    narrower = compare_paired(candidate, blessed, 0.8, 10000, seed=42)["interval"]
    assert low < narrower[0] < narrower[1] < high


def test_models_that_always_agree_differ_by_exactly_nothing() -> None:
    candidate, blessed = _answers(both=30, candidate_only=0, blessed_only=0, neither=10)
    assert compare_paired(candidate, blessed, 0.9, 1000, seed=1) == {
        "images": 40, "difference": 0.0, "interval": [0.0, 0.0], "confidence": 0.9, "resamples": 1000,
        "candidate_only": 0, "blessed_only": 0, "test": "McNemar exact", "p_value": 1.0}


def test_answers_given_as_ones_and_zeros_count_as_right_and_wrong() -> None:
    candidate, blessed = _answers(both=50, candidate_only=7, blessed_only=3, neither=40)
    as_bools = compare_paired(candidate, blessed, 0.95, 1000, seed=3)
    assert compare_paired(candidate.astype(int), blessed.astype(int), 0.95, 1000, seed=3) == as_bools
    assert compare_paired(candidate.astype(int), blessed, 0.95, 1000, seed=3) == as_bools
    assert compare_paired(candidate, blessed.astype(int), 0.95, 1000, seed=3) == as_bools
    assert compare_paired(candidate.astype(float), blessed.astype(float), 0.95, 1000, seed=3) == as_bools


def test_figures_are_rounded_to_six_places() -> None:
    candidate, blessed = _answers(both=2, candidate_only=2, blessed_only=1, neither=2)  # 7 images
    result = compare_paired(candidate, blessed, 0.95, 1000, seed=0)
    assert result["difference"] == 0.142857
    sevenths = {round(k / 7, 6) for k in range(-7, 8)}  # every difference 7 images can show, to six places
    assert set(result["interval"]) <= sevenths and any(result["interval"])


def test_the_interval_of_equally_good_models_is_symmetric_and_the_seed_picks_the_draws() -> None:
    """25,000 images (a fine grid of differences): the draws depend on the seed alone, and when both
    models are right as often, the interval's ends mirror each other."""
    candidate, blessed = _answers(both=20000, candidate_only=1000, blessed_only=1000, neither=3000)
    first = compare_paired(candidate, blessed, 0.95, 10000, seed=1)
    assert first == compare_paired(candidate, blessed, 0.95, 10000, seed=1)
    others = {tuple(compare_paired(candidate, blessed, 0.95, 10000, seed=seed)["interval"]) for seed in range(2, 7)}
    assert len(others | {tuple(first["interval"])}) > 1  # other seeds, other draws
    low, high = first["interval"]
    assert low < 0 < high and abs(low + high) <= 0.0001


@pytest.mark.parametrize(("candidate", "blessed"), [([], []), ([True, False], [True]), ([[True]], [[True]])])
def test_answers_must_pair_up(candidate: list, blessed: list) -> None:
    with pytest.raises(ValueError, match="one right/wrong per image for both models"):
        compare_paired(np.array(candidate), np.array(blessed), 0.95, 100, seed=0)


@pytest.mark.parametrize(("successes", "total"), [(36, 40), (0, 20), (20, 20), (1, 3)])
def test_wilson_intervals_by_the_formula(successes: int, total: int) -> None:
    z, share = stats.norm.ppf(0.975), successes / total
    centre = (share + z**2 / (2 * total)) / (1 + z**2 / total)
    half = z * math.sqrt(share * (1 - share) / total + z**2 / (4 * total**2)) / (1 + z**2 / total)
    low, high = proportion_interval(successes, total, 0.95)
    assert low == pytest.approx(max(0.0, centre - half), abs=2e-6)
    assert high == pytest.approx(min(1.0, centre + half), abs=2e-6)
    assert (low, high) == (round(low, 6), round(high, 6))
    if 0 < successes < total:
        assert round(low, 5) != low or round(high, 5) != high  # six places kept, not fewer


def test_the_interval_level_is_the_confidence_asked_for() -> None:
    wide, narrow = proportion_interval(36, 40, 0.99), proportion_interval(36, 40, 0.8)
    assert wide[0] < narrow[0] < 0.9 < narrow[1] < wide[1]


def test_a_proportion_of_nothing_is_anything() -> None:
    assert proportion_interval(0, 0, 0.95) == [0.0, 1.0]
