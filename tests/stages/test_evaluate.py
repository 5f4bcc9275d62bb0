"""evaluate: predictions over the test shards (centre and ten crops), metrics and plot files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.artifacts import SHARDS_FILE, TRAIN_SUMMARY_FILE
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.evaluation.scoring import predict_dataset
from alexnet_pipeline.input.reader import make_dataset
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.shards.images import encode_jpeg
from alexnet_pipeline.training.model import build_alexnet, load_model
from stages.evaluate import evaluate, main, prediction_rows
from tests.helpers import noise_array, write_params, write_test_shards


def _shards(tmp_path: Path, labels: list[int]) -> list[str]:
    return write_test_shards(tmp_path, "test", [(Image.fromarray(noise_array(76, 76, seed=i)), label,
                                                 f"test/x/{i}.jpg") for i, label in enumerate(labels)], 2)


def _centre_crop_probabilities(model, seed: int, stored: int = 76, size: int = 67) -> np.ndarray:
    """The model's probabilities for `noise_array(stored, stored, seed)` as the test shards keep it
    (JPEG at quality 95), on its centre `size` crop, computed without the reader."""
    pixels = tf.io.decode_jpeg(encode_jpeg(Image.fromarray(noise_array(stored, stored, seed=seed)), 95),
                               channels=3).numpy()
    top = (stored - size) // 2
    return np.asarray(model(pixels[None, top:top + size, top:top + size], training=False))[0]


def test_predict_dataset_covers_every_test_example(tmp_path: Path) -> None:
    labels = [0, 1, 1, 0, 1]
    dataset = make_dataset(_shards(tmp_path, labels), ShardFormat("jpeg", 76, 67), 2, training=False, seed=0,
                           keys=True)
    model = build_alexnet(2, 67, seed=0, channel_mean=[127.0] * 3, channel_std=[74.0] * 3)
    true, probabilities, centre, keys = predict_dataset(model, dataset)
    assert sorted(true.tolist()) == sorted(labels)
    # Without ten crops both are the centre crop's probabilities, each row its own key's image's.
    expected = np.stack([_centre_crop_probabilities(model, int(key.split("/")[-1][0])) for key in keys])
    assert probabilities.shape == (5, 2) and not np.allclose(expected, expected[0])  # the images differ
    assert np.allclose(probabilities, expected, atol=1e-5) and np.allclose(centre, expected, atol=1e-5)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert sorted(keys) == [f"test/x/{i}.jpg" for i in range(5)]
    assert all(labels[int(key.split("/")[-1][0])] == label for key, label in zip(keys, true, strict=True))


def test_ten_crops_average_the_crops_and_keep_the_centre_apart(tmp_path: Path) -> None:
    dataset = make_dataset(_shards(tmp_path, [0, 1, 1]), ShardFormat("jpeg", 76, 67), 2, training=False, seed=0,
                           ten_crop=True, keys=True)
    model = build_alexnet(2, 67, seed=0, channel_mean=[127.0] * 3, channel_std=[74.0] * 3)
    _, averaged, centre, _ = predict_dataset(model, dataset)
    assert averaged.shape == centre.shape == (3, 2) and not np.allclose(averaged, centre)
    centre_only = predict_dataset(model, make_dataset(_shards(tmp_path / "again", [0, 1, 1]),
                                                      ShardFormat("jpeg", 76, 67), 2, training=False, seed=0,
                                                      keys=True))
    assert np.allclose(centre, centre_only[1], atol=1e-5)  # crop 4 of the ten is the centre crop


CLASSES = ["cat", "dog"]
TRUE = np.array([0, 1, 1, 0])
PROBABILITIES = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
KEYS = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


def test_prediction_rows_all_in_order_or_the_wrong_ones_surest_first() -> None:
    assert prediction_rows(TRUE, PROBABILITIES, KEYS, CLASSES)[:2] == [
        ["a.jpg", "cat", "cat", 0.9, 0.9], ["b.jpg", "dog", "cat", 0.8, 0.2]]
    assert len(prediction_rows(TRUE, PROBABILITIES, KEYS, CLASSES)) == 4
    assert prediction_rows(TRUE, PROBABILITIES, KEYS, CLASSES, wrong_only=True) == [
        ["b.jpg", "dog", "cat", 0.8, 0.2], ["d.jpg", "cat", "dog", 0.6, 0.4]]


def test_evaluate_files_and_ten_crop_gain() -> None:
    centre = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.4, 0.6]])  # 1 of 4 right
    metrics, files = evaluate(TRUE, PROBABILITIES, centre, KEYS, CLASSES, ten_crop=True)
    assert metrics["accuracy"] == 0.5 and metrics["ten_crop"]["centre_accuracy"] == 0.25
    assert metrics["ten_crop"]["gain"] == 0.25
    assert files["confusion.csv"] == "actual,predicted\ncat,cat\ndog,cat\ndog,dog\ncat,dog\n"
    assert files["misclassified.csv"].splitlines()[0] == "path,actual,predicted,p_predicted,p_actual"
    assert files["roc.csv"].splitlines()[0] == "fpr,tpr,threshold"
    assert files["pr.csv"].splitlines()[0] == "recall,precision,threshold"
    # Class 1 (dog) is the positive: 3 of the 4 (dog, cat) pairs rank the dog higher (0.2 < 0.6).
    assert _mann_whitney_auc(TRUE, PROBABILITIES[:, 1]) == 0.75
    assert metrics["roc_auc"] == pytest.approx(0.75, abs=1e-6)
    assert _mann_whitney_auc(*_scores_in(files["predictions.csv"], CLASSES)) == 0.75  # what it wrote
    assert "top5_accuracy" not in metrics


def _mann_whitney_auc(true: np.ndarray, scores: np.ndarray) -> float:
    """The ROC AUC by its definition: the share of (positive, negative) pairs in which the positive
    (class 1) scores higher, a tie counting a half."""
    positives, negatives = scores[true == 1], scores[true == 0]
    pairs = [1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives]
    return sum(pairs) / len(pairs)


def _scores_in(predictions_csv: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, probability of class 1) of a two-class predictions.csv."""
    rows = list(csv.DictReader(io.StringIO(predictions_csv)))
    true = np.array([classes.index(row["actual"]) for row in rows])
    p_actual = np.array([float(row["p_actual"]) for row in rows])
    return true, np.where(true == 1, p_actual, 1 - p_actual)


def test_more_than_two_classes_have_no_binary_curves() -> None:
    true = np.array([0, 1, 2])
    probabilities = np.eye(3)
    metrics, files = evaluate(true, probabilities, probabilities, ["x", "y", "z"], ["a", "b", "c"], ten_crop=False)
    assert "roc.csv" not in files and "roc_auc" not in metrics and "ten_crop" not in metrics
    assert files["misclassified.csv"] == "path,actual,predicted,p_predicted,p_actual\n"


def test_main_without_test_shards_is_a_clean_error(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path))
    params.paths.processed.mkdir(parents=True)
    with pytest.raises(PipelineError, match="no test shards"):
        main(params)
    assert not params.paths.metrics.exists()


TRAIN_SUMMARY = {"recipe": "custom", "epochs": 3, "epochs_run": 3, "resumed_from_epoch": 0, "stopped_early": False,
                 "best_epoch": 1, "best_loss": 0.25, "wall_time_s": 1.0, "images_per_s": 10.0, "devices": ["CPU"],
                 "replicas": 1, "workers": 1, "precision": "float32", "precision_reason": "off", "batch_size": 2,
                 "learning_rate": 0.001, "optimizer": "adam", "input_cache": "memory",
                 "input_cache_reason": "train.cache: memory"}


def _trained_project(root: Path, **overrides):
    """Test shards, labels, train's summary and two different models: the best epoch's and the last."""
    params = load_params(write_params(root, base__image_size=67, evaluate__ten_crop=False, **overrides))
    paths = params.paths
    write_test_shards(paths.processed, "test", [(Image.fromarray(noise_array(67, 67, seed=i)), i % 2,
                                                 f"test/x/{i}.jpg") for i in range(6)], 3)
    (paths.processed / SHARDS_FILE).write_text(json.dumps(
        {"encoding": "jpeg", "resize": "crop", "image_size": 67, "stored_size": 67, "jpeg_quality": 95}))
    paths.model.parent.mkdir(parents=True, exist_ok=True)
    build_alexnet(2, 67, seed=1).save(paths.model)
    build_alexnet(2, 67, seed=2).save(paths.best_model)
    paths.labels.write_text(json.dumps(["a", "b"]))
    paths.train_logs.mkdir(parents=True)
    (paths.train_logs / TRAIN_SUMMARY_FILE).write_text(json.dumps(TRAIN_SUMMARY))
    return params


def test_evaluate_model_picks_the_best_or_the_last_epochs_model_and_says_which(tmp_path: Path) -> None:
    scored = {}
    for choice in ("best", "last"):
        params = _trained_project(tmp_path / choice, evaluate__model=choice)
        main(params)
        scored[choice] = json.loads(params.paths.metrics.read_text())
    assert scored["best"]["model"] == {"choice": "best", "path": str(tmp_path / "best/models/alexnet.best.keras"),
                                       "epoch": 1, "epochs_run": 3, "best_epoch": 1, "best_loss": 0.25}
    assert scored["last"]["model"] == {"choice": "last", "path": str(tmp_path / "last/models/alexnet.keras"),
                                       "epoch": 3, "epochs_run": 3, "best_epoch": 1, "best_loss": 0.25}
    assert scored["best"]["loss"] != scored["last"]["loss"]  # two different models were scored


def test_main_reports_the_saved_models_centre_crop_probabilities_and_their_auc(tmp_path: Path) -> None:
    """predictions.csv holds the scored (saved) model's probabilities for each test image, and the
    reported ROC AUC is the Mann-Whitney statistic of those predictions."""
    params = _trained_project(tmp_path)
    # A model with the input normalization training sets, so that its probabilities on noise stay
    # apart instead of saturating at 0 and 1 (all ties, and an AUC of 0.5 whatever the order).
    build_alexnet(2, 67, seed=0, channel_mean=[127.0] * 3, channel_std=[74.0] * 3).save(params.scored_model)
    main(params)
    metrics = json.loads(params.paths.metrics.read_text())
    predictions = (params.paths.eval_plots / "predictions.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(predictions)))
    assert sorted(row["path"] for row in rows) == [f"test/x/{i}.jpg" for i in range(6)]
    model = load_model(params.scored_model)
    for row in rows:
        index = int(row["path"].split("/")[-1][0])
        expected = _centre_crop_probabilities(model, index, stored=67)  # stored at the input size
        assert row["actual"] == ["a", "b"][index % 2] and row["predicted"] == ["a", "b"][expected.argmax()]
        assert float(row["p_actual"]) == pytest.approx(expected[index % 2], abs=2e-6)
    true, scores = _scores_in(predictions, ["a", "b"])
    assert len(set(scores.tolist())) == 6  # no ties: the pairs' order is the model's
    assert metrics["roc_auc"] == pytest.approx(_mann_whitney_auc(true, scores), abs=1e-6)


def test_main_without_trains_summary_names_it(tmp_path: Path) -> None:
    params = _trained_project(tmp_path)
    (params.paths.train_logs / TRAIN_SUMMARY_FILE).unlink()
    with pytest.raises(PipelineError, match=r"reports/train/summary.json: not found; run the earlier stages"):
        main(params)
    assert not params.paths.metrics.exists()


def test_main_with_a_malformed_summary_names_the_file_and_the_field(tmp_path: Path) -> None:
    params = _trained_project(tmp_path)
    (params.paths.train_logs / TRAIN_SUMMARY_FILE).write_text(json.dumps({**TRAIN_SUMMARY, "epochs_run": "three"}))
    with pytest.raises(PipelineError, match=r"reports/train/summary.json: not valid: `epochs_run` input should be a "
                                            r"valid integer.*; rerun the stage that writes it"):
        main(params)
    assert not params.paths.metrics.exists()
