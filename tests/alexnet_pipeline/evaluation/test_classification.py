"""classification_metrics against a small example worked out by hand."""

from __future__ import annotations

from math import log

import numpy as np
import pytest

from alexnet_pipeline.evaluation.classification import (
    EPSILON,
    binary_curves,
    classification_metrics,
    confusion_matrix,
    top_k_accuracy,
)

CLASSES = ["a", "b", "c"]
TRUE = np.array([0, 0, 1, 1, 2, 2, 2])
PROBABILITIES = np.array([
    [0.7, 0.2, 0.1],  # a -> a
    [0.3, 0.6, 0.1],  # a -> b
    [0.1, 0.8, 0.1],  # b -> b
    [0.5, 0.4, 0.1],  # b -> a
    [0.2, 0.2, 0.6],  # c -> c
    [0.0, 0.0, 1.0],  # c -> c
    [0.1, 0.1, 0.8],  # c -> c
])


def test_hand_computed_example() -> None:
    metrics = classification_metrics(TRUE, PROBABILITIES, CLASSES)
    assert metrics["num_examples"] == 7
    assert metrics["accuracy"] == round(5 / 7, 6)
    expected_loss = -(log(0.7) + log(0.3) + log(0.8) + log(0.4) + log(0.6) + log(1.0) + log(0.8)) / 7
    assert metrics["loss"] == pytest.approx(expected_loss, abs=1e-6)
    assert metrics["confusion_matrix"] == [[1, 1, 0],
                                           [1, 1, 0],
                                           [0, 0, 3]]
    assert metrics["per_class"] == {
        "a": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        "b": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        "c": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3},
    }
    assert metrics["macro_f1"] == round(2 / 3, 6)  # (0.5 + 0.5 + 1) / 3
    assert metrics["weighted_f1"] == round(5 / 7, 6)  # (0.5*2 + 0.5*2 + 1*3) / 7


def test_unequal_precision_and_recall() -> None:
    # a: 3 true, 2 found; b: 1 true, found, plus one a mistaken for b
    true = np.array([0, 0, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    metrics = classification_metrics(true, probabilities, ["a", "b"])
    assert metrics["per_class"]["a"] == {"precision": 1.0, "recall": round(2 / 3, 6),
                                         "f1": 0.8, "support": 3}
    assert metrics["per_class"]["b"] == {"precision": 0.5, "recall": 1.0,
                                         "f1": round(2 / 3, 6), "support": 1}


def test_class_never_seen_nor_predicted_scores_zero_without_dividing_by_zero() -> None:
    probabilities = np.hstack([PROBABILITIES, np.zeros((7, 1))])
    metrics = classification_metrics(TRUE, probabilities, CLASSES + ["d"])
    assert metrics["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics["macro_f1"] == 0.5  # (0.5 + 0.5 + 1 + 0) / 4
    assert metrics["weighted_f1"] == round(5 / 7, 6)  # support 0 weighs nothing
    assert np.array(metrics["confusion_matrix"]).shape == (4, 4)


def test_zero_probability_for_the_true_class_is_clipped_in_the_loss() -> None:
    metrics = classification_metrics(np.array([0]), np.array([[0.0, 1.0]]), ["a", "b"])
    assert metrics["loss"] == pytest.approx(-log(EPSILON), abs=1e-5)
    assert metrics["accuracy"] == 0.0


def test_no_examples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no examples"):
        classification_metrics(np.array([], dtype=int), np.zeros((0, 2)), ["a", "b"])


def test_confusion_matrix_counts_repeated_pairs() -> None:
    matrix = confusion_matrix(np.array([1, 1, 1, 0]), np.array([0, 0, 1, 0]), 3)
    assert matrix.tolist() == [[1, 0, 0], [2, 1, 0], [0, 0, 0]]


def test_normalized_confusion_rows_sum_to_one() -> None:
    normalized = np.array(classification_metrics(TRUE, PROBABILITIES, CLASSES)["confusion_matrix_normalized"])
    assert np.allclose(normalized.sum(axis=1), 1.0, atol=1e-3)
    assert normalized[0].tolist() == [0.5, 0.5, 0.0]


def test_top_k_accuracy_by_hand() -> None:
    true = np.array([2, 0, 1])
    probabilities = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
    assert top_k_accuracy(true, probabilities, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(true, probabilities, 2) == pytest.approx(1 / 3)
    assert top_k_accuracy(true, probabilities, 3) == 1.0


def test_top5_only_with_five_classes_or_more() -> None:
    assert "top5_accuracy" not in classification_metrics(TRUE, PROBABILITIES, CLASSES)
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(6), size=20)
    true = rng.integers(0, 6, 20)
    metrics = classification_metrics(true, probabilities, list("abcdef"))
    assert metrics["top5_accuracy"] == round(top_k_accuracy(true, probabilities, 5), 6)
    assert metrics["top5_accuracy"] >= metrics["accuracy"]


def test_binary_curves_by_hand() -> None:
    true = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    curves = binary_curves(true, scores)
    assert [(p["fpr"], p["tpr"]) for p in curves["roc"]] == [(0, 0), (0, 0.5), (0.5, 0.5), (0.5, 1), (1, 1)]
    assert curves["roc_auc"] == 0.75
    assert [(p["recall"], round(p["precision"], 4)) for p in curves["pr"]] == [
        (0, 1), (0.5, 1), (0.5, 0.5), (1, 0.6667), (1, 0.5)]
    assert curves["average_precision"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=1e-6)


def test_binary_curves_merge_tied_scores() -> None:
    curves = binary_curves(np.array([1, 0, 1]), np.array([0.5, 0.5, 0.2]))
    assert [(p["fpr"], p["tpr"]) for p in curves["roc"]] == [(0, 0), (1, 0.5), (1, 1)]


def test_binary_curves_of_one_class_have_no_auc() -> None:
    curves = binary_curves(np.array([1, 1]), np.array([0.9, 0.4]))
    assert curves["roc_auc"] is None and curves["average_precision"] is None
