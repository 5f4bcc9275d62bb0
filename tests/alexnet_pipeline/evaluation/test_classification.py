"""classification_metrics against a small example worked out by hand."""

from __future__ import annotations

import json
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


def test_the_error_names_the_empty_evaluation() -> None:
    with pytest.raises(ValueError) as info:
        classification_metrics(np.array([], dtype=int), np.zeros((0, 2)), ["a", "b"])
    assert str(info.value) == "no examples to evaluate"


def test_top5_appears_at_exactly_five_classes() -> None:
    """4, 5 and 6 classes: the threshold itself and one class either side."""
    rng = np.random.default_rng(1)
    for count in (4, 5, 6):
        probabilities = rng.dirichlet(np.ones(count), size=12)
        true = rng.integers(0, count, 12)
        metrics = classification_metrics(true, probabilities, [f"c{i}" for i in range(count)])
        assert ("top5_accuracy" in metrics) is (count >= 5)


def test_figures_are_rounded_to_six_places_and_the_normalized_matrix_to_four() -> None:
    """Thirds everywhere: each figure shows exactly the digits the rounding keeps."""
    true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4])
    probabilities = np.full((13, 5), 0.1)  # the true class has 0.1 when predicted wrongly
    predicted = [0, 1, 2, 1, 1, 0, 2, 2, 2, 3, 4, 4, 3]
    probabilities[np.arange(13), predicted] = 0.6
    metrics = classification_metrics(true, probabilities, list("abcde"))
    assert metrics["per_class"]["a"] == {"precision": 0.5, "recall": 0.333333, "f1": 0.4, "support": 3}
    assert metrics["per_class"]["b"]["precision"] == 0.666667
    assert metrics["confusion_matrix_normalized"][0] == [0.3333, 0.3333, 0.3333, 0.0, 0.0]
    assert metrics["accuracy"] == round(8 / 13, 6) == 0.615385
    assert metrics["loss"] == round(-(8 * log(0.6) + 5 * log(0.1)) / 13, 6)
    assert metrics["top5_accuracy"] == 1.0
    assert metrics["macro_f1"] == round(float(np.mean([0.4, 2 / 3, 6 / 7, 0.5, 0.5])), 6)


def test_top5_is_rounded_to_six_places() -> None:
    true = np.array([5, 0, 0])  # the first example's true class is the least probable of six
    probabilities = np.tile([0.3, 0.2, 0.2, 0.1, 0.1, 0.1], (3, 1))
    probabilities[0] = [0.3, 0.2, 0.2, 0.15, 0.1, 0.05]
    assert classification_metrics(true, probabilities, list("abcdef"))["top5_accuracy"] == 0.666667


def test_each_row_of_the_normalized_matrix_is_divided_by_its_own_support() -> None:
    """Supports 1, 2 and 4: a class seen once keeps its whole row; no row borrows another's sum."""
    true = np.array([0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 1, 2, 2, 2, 2, 0])
    probabilities = np.eye(3)[predicted] * 0.8 + 0.1 * (1 - np.eye(3)[predicted])
    metrics = classification_metrics(true, probabilities, ["a", "b", "c"])
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [1, 0, 3]]
    assert metrics["confusion_matrix_normalized"] == [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.25, 0.0, 0.75]]


def test_counts_are_integers() -> None:
    matrix = confusion_matrix(np.array([0, 1]), np.array([1, 1]), 2)
    assert matrix.dtype == np.int64
    metrics = classification_metrics(TRUE, PROBABILITIES, CLASSES)
    assert all(type(count) is int for row in metrics["confusion_matrix"] for count in row)


def test_top_k_ties_go_to_the_lower_class_id() -> None:
    """20 classes with two tied at 0.8 for the fifth place: class 4 is in the top five, 10 is not."""
    row = [0.6, 0.3, 0.0, 0.0, 0.8, 0.9, 0.6, 0.7, 0.5, 0.9, 0.8, 0.0, 0.9, 0.0, 0.7, 0.2, 0.9, 0.5, 0.3, 0.4]
    probabilities = np.array([row, row])
    assert top_k_accuracy(np.array([4, 10]), probabilities, 5) == 0.5
    assert top_k_accuracy(np.array([4, 4]), probabilities, 5) == 1.0


def test_binary_curves_points_in_full() -> None:
    """Thresholds start at 1.0 (nothing predicted positive); a third shows six digits."""
    curves = binary_curves(np.array([1, 0, 0, 1, 0, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]))
    assert curves["roc"][:3] == [{"fpr": 0.0, "tpr": 0.0, "threshold": 1.0},
                                 {"fpr": 0.0, "tpr": 0.5, "threshold": 0.9},
                                 {"fpr": 0.25, "tpr": 0.5, "threshold": 0.8}]
    assert curves["pr"][:4] == [{"recall": 0.0, "precision": 1.0, "threshold": 1.0},
                                {"recall": 0.5, "precision": 1.0, "threshold": 0.9},
                                {"recall": 0.5, "precision": 0.5, "threshold": 0.8},
                                {"recall": 0.5, "precision": 0.333333, "threshold": 0.7}]
    assert curves["roc_auc"] == 0.75
    assert curves["average_precision"] == round(0.5 + 0.5 * 0.5, 6)


def test_binary_curves_keep_six_digits_of_every_figure() -> None:
    """Three positives, three negatives: rates are thirds; the AUC and AP are not round either."""
    curves = binary_curves(np.array([1, 0, 1, 1, 0, 0]), np.array([0.95, 0.85, 0.75, 0.3333333, 0.25, 0.15]))
    assert curves["roc"][1] == {"fpr": 0.0, "tpr": 0.333333, "threshold": 0.95}
    assert curves["pr"][1] == {"recall": 0.333333, "precision": 1.0, "threshold": 0.95}
    assert curves["roc"][2] == {"fpr": 0.333333, "tpr": 0.333333, "threshold": 0.85}
    assert curves["pr"][4] == {"recall": 1.0, "precision": 0.75, "threshold": 0.333333}
    assert curves["roc"][4]["threshold"] == 0.333333
    assert curves["roc_auc"] == round(7 / 9, 6) == 0.777778
    assert curves["average_precision"] == round((1 + 2 / 3 + 3 / 4) / 3, 6) == 0.805556


@pytest.mark.parametrize(("true", "auc"), [
    ([0, 0, 0, 0], None),  # no positive: undefined
    ([1, 0, 0, 0], 1.0),   # exactly one positive, ranked first
    ([0, 1, 0, 0], round(2 / 3, 6)),
    ([1, 1, 0, 0], 1.0),
    ([1, 1, 1, 1], None),  # no negative: undefined
])
def test_binary_curves_need_one_example_of_each_class(true: list[int], auc: float | None) -> None:
    curves = binary_curves(np.array(true), np.array([0.9, 0.7, 0.5, 0.3]))
    assert curves["roc_auc"] == auc
    assert (curves["average_precision"] is None) is (auc is None)
    if sum(true) == 1:  # one positive: recall jumps from 0 to 1 at its score
        assert [point["tpr"] for point in curves["roc"]] == [0.0] + [1.0 if true.index(1) <= i else 0.0
                                                                     for i in range(4)]


def test_a_perfect_score_has_a_loss_of_plus_zero() -> None:
    """Every true class at probability 1: the loss is 0.0, and metrics.json does not say -0.0."""
    metrics = classification_metrics(np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]), ["a", "b"])
    assert metrics["accuracy"] == 1.0 and json.dumps(metrics["loss"]) == "0.0"
