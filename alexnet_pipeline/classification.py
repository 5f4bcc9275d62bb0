"""Classification metrics from true labels and predicted probabilities (no framework needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

EPSILON = 1e-7  # as Keras clips probabilities in cross-entropy


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def classification_metrics(true: np.ndarray, probabilities: np.ndarray,
                           classes: list[str]) -> dict[str, Any]:
    """Accuracy, mean cross-entropy loss, per-class precision/recall/F1/support, macro/weighted F1."""
    if len(true) == 0:
        raise ValueError("no examples to evaluate")
    predicted = probabilities.argmax(axis=1)
    picked = np.clip(probabilities[np.arange(len(true)), true], EPSILON, 1.0)
    matrix = confusion_matrix(true, predicted, len(classes))
    per_class: dict[str, dict[str, float | int]] = {}
    f1s, supports = [], []
    for index, name in enumerate(classes):
        true_positive = matrix[index, index]
        predicted_count, support = matrix[:, index].sum(), matrix[index, :].sum()
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(float(precision), 6), "recall": round(float(recall), 6),
                           "f1": round(float(f1), 6), "support": int(support)}
        f1s.append(f1)
        supports.append(support)
    return {
        "accuracy": round(float((predicted == true).mean()), 6),
        "loss": round(float(-np.log(picked).mean()), 6),
        "macro_f1": round(float(np.mean(f1s)), 6),
        "weighted_f1": round(float(np.average(f1s, weights=supports)), 6),
        "num_examples": len(true),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }
