"""Two models scored on the same test images, compared image by image: the accuracy difference
with a bootstrap interval over the images, and McNemar's exact test on the images where exactly
one of them is right. A drop on a small test split is told from noise this way (docs/trust.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

TEST_NAME = "McNemar exact"


def mcnemar_p_value(candidate_only: int, blessed_only: int) -> float:
    """Two-sided exact McNemar p-value: under "both models are equally accurate", each image
    only one model gets right is a fair coin's toss between them. 1.0 when they never disagree."""
    disagreements = candidate_only + blessed_only
    if disagreements == 0:
        return 1.0
    tail = stats.binom.cdf(min(candidate_only, blessed_only), disagreements, 0.5)
    return float(min(1.0, 2.0 * tail))


def compare_paired(candidate_right: np.ndarray, blessed_right: np.ndarray, confidence: float,
                   resamples: int, seed: int) -> dict[str, Any]:
    """The candidate's accuracy minus the blessed model's on the same images (the two arrays say,
    image by image, whether each model was right), its bootstrap interval at `confidence`
    (images drawn with replacement, `resamples` times, seeded), and McNemar's p-value."""
    candidate_right = np.asarray(candidate_right, dtype=bool)
    blessed_right = np.asarray(blessed_right, dtype=bool)
    if candidate_right.shape != blessed_right.shape or candidate_right.ndim != 1 or not candidate_right.size:
        raise ValueError(f"paired comparison needs one right/wrong per image for both models, got "
                         f"{candidate_right.shape} and {blessed_right.shape}")
    images = int(candidate_right.size)
    candidate_only = int(np.sum(candidate_right & ~blessed_right))
    blessed_only = int(np.sum(blessed_right & ~candidate_right))
    # Resampling images only moves the counts of the two kinds of disagreement: draw those.
    shares = [candidate_only / images, blessed_only / images]
    draws = np.random.default_rng(seed).multinomial(images, [*shares, max(0.0, 1.0 - sum(shares))], size=resamples)
    differences = (draws[:, 0] - draws[:, 1]) / images
    low, high = np.quantile(differences, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {"images": images, "difference": round((candidate_only - blessed_only) / images, 6),
            "interval": [round(float(low), 6), round(float(high), 6)], "confidence": confidence,
            "resamples": resamples, "candidate_only": candidate_only, "blessed_only": blessed_only,
            "test": TEST_NAME, "p_value": mcnemar_p_value(candidate_only, blessed_only)}


def proportion_interval(successes: int, total: int, confidence: float) -> list[float]:
    """Wilson score interval of a proportion (an accuracy, a class's recall); [0, 1] without data."""
    if total == 0:
        return [0.0, 1.0]
    interval = stats.binomtest(successes, total).proportion_ci(confidence_level=confidence, method="wilson")
    return [round(float(interval.low), 6), round(float(interval.high), 6)]
