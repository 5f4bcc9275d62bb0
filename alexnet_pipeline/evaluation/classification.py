"""Classification metrics from true labels and predicted probabilities (no framework needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

EPSILON = 1e-7  # as Keras clips probabilities in cross-entropy
TOP_K = 5  # top5_accuracy, for datasets with at least this many classes


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def classification_metrics(true: np.ndarray, probabilities: np.ndarray,
                           classes: list[str]) -> dict[str, Any]:
    """Accuracy, mean cross-entropy loss, top-5 accuracy (5 classes or more), per-class
    precision/recall/F1/support, macro/weighted F1, the confusion matrix (counts and row-normalized)."""
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
    metrics: dict[str, Any] = {
        "accuracy": round(float((predicted == true).mean()), 6),
        "loss": round(float(-np.log(picked).mean()), 6) + 0.0,  # + 0.0: a perfect score is 0.0, not -0.0
    }
    if len(classes) >= TOP_K:
        metrics["top5_accuracy"] = round(top_k_accuracy(true, probabilities, TOP_K), 6)
    normalized = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    return metrics | {
        "macro_f1": round(float(np.mean(f1s)), 6),
        "weighted_f1": round(float(np.average(f1s, weights=supports)), 6),
        "num_examples": len(true),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_normalized": np.round(normalized, 4).tolist(),
    }


def top_k_accuracy(true: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    """Share of examples whose true class is among the `k` most probable."""
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float((top == true[:, None]).any(axis=1).mean())


def binary_curves(true: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """ROC and precision-recall curves of a two-class problem (class 1 positive, `scores` its
    probability), one point per distinct threshold, with the ROC AUC and average precision."""
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], (true[order] == 1).astype(np.int64)
    last_of_each = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_pos = np.cumsum(positive)[last_of_each]
    false_pos = (last_of_each + 1) - true_pos
    both_classes = 0 < int(positive.sum()) < len(positive)  # else AUC and AP are undefined
    positives, negatives = max(int(positive.sum()), 1), max(len(positive) - int(positive.sum()), 1)
    tpr = np.r_[0.0, true_pos / positives]
    fpr = np.r_[0.0, false_pos / negatives]
    precision = np.r_[1.0, true_pos / (true_pos + false_pos)]
    thresholds = np.r_[1.0, scores[last_of_each]]
    return {
        "roc": [{"fpr": round(float(f), 6), "tpr": round(float(t), 6), "threshold": round(float(h), 6)}
                for f, t, h in zip(fpr, tpr, thresholds, strict=True)],
        "pr": [{"recall": round(float(r), 6), "precision": round(float(p), 6), "threshold": round(float(h), 6)}
               for r, p, h in zip(tpr, precision, thresholds, strict=True)],
        "roc_auc": round(float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)), 6) if both_classes else None,
        "average_precision": round(float(np.sum(np.diff(tpr) * precision[1:])), 6) if both_classes else None,
    }
