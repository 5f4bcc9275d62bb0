"""Drift without labels: the blessed model's own predictions on this data against its predictions
on its reference data.

New photos often arrive before anyone labels them; what the blessed model makes of them is then
the signal. Two tests, under the same rule as the others (p-value below `drift.p_value` and effect
at least `drift.min_effect`): the mix of predicted (top-1) classes, a chi-square test with the
total variation distance as effect, and the top-1 confidence, a two-sample Kolmogorov-Smirnov test
with the KS distance as effect. Neither uses a label: only the model's class probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alexnet_pipeline.drift.statistics import categorical_shift, histogram, numeric_shift, summary

PLACES = 4  # confidences cluster closely for a weak model: summaries and bin edges keep 4 places


def _checked(probabilities: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    array = np.asarray(probabilities, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(labels):
        raise ValueError(f"class probabilities of shape {array.shape} do not match {len(labels)} classes")
    return array


def predicted_counts(probabilities: np.ndarray, labels: Sequence[str]) -> dict[str, int]:
    """Images per predicted (top-1) class, every class of `labels` (the model's output order)
    listed, zero included."""
    array = _checked(probabilities, labels)
    counts = np.bincount(array.argmax(axis=1), minlength=len(labels)) if len(array) else np.zeros(len(labels), int)
    return {str(label): int(count) for label, count in zip(labels, counts, strict=True)}


def confidences(probabilities: np.ndarray) -> np.ndarray:
    """Each image's top-1 probability: how sure the model is of its answer."""
    array = np.asarray(probabilities, dtype=np.float64)
    return array.max(axis=1) if array.size else np.zeros(0)


def prediction_shift(reference: np.ndarray, current: np.ndarray, labels: Sequence[str], p_threshold: float,
                     min_effect: float) -> dict[str, Any]:
    """The drift report's `predictions`: the class probabilities the blessed model gives its
    reference sample (`reference`) and this data's sample (`current`), one row per image in the
    order of `labels`, compared as predicted-class counts (chi-square) and top-1 confidences
    (Kolmogorov-Smirnov), with both count tables, summaries and a shared-bin histogram."""
    old_counts, new_counts = predicted_counts(reference, labels), predicted_counts(current, labels)
    old_confidence, new_confidence = confidences(reference), confidences(current)
    return {
        "sample_sizes": [len(old_confidence), len(new_confidence)],
        "classes": {**categorical_shift(old_counts, new_counts, p_threshold, min_effect).as_json(),
                    "reference": old_counts, "current": new_counts},
        "confidence": {**numeric_shift(old_confidence, new_confidence, p_threshold, min_effect).as_json(),
                       "reference": summary(old_confidence, PLACES), "current": summary(new_confidence, PLACES),
                       "histogram": histogram(old_confidence, new_confidence, PLACES)},
    }


def prediction_findings(predictions: dict[str, Any]) -> list[str]:
    """One finding line per flagged test of `prediction_shift`'s result."""
    findings = []
    classes, confidence = predictions["classes"], predictions["confidence"]
    if classes["drifted"]:
        findings.append(f"the blessed model's predicted classes shifted (total variation {classes['effect']:.3f}, "
                        f"p={classes['p_value']:.2g})")
    if confidence["drifted"]:
        findings.append(f"the blessed model's confidence shifted (KS distance {confidence['effect']:.3f}, "
                        f"p={confidence['p_value']:.2g})")
    return findings
