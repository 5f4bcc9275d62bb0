"""evaluate: predictions over the test shards (centre and ten crops), metrics and plot files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.artifacts import SHARDS_FILE, TRAIN_SUMMARY_FILE
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.input.reader import make_dataset
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.training.model import build_alexnet
from stages.evaluate import evaluate, main, predict_dataset, prediction_rows
from tests.helpers import noise_array, write_params, write_test_shards


def _shards(tmp_path: Path, labels: list[int]) -> list[str]:
    return write_test_shards(tmp_path, "test", [(Image.fromarray(noise_array(76, 76, seed=i)), label,
                                                 f"test/x/{i}.jpg") for i, label in enumerate(labels)], 2)


def test_predict_dataset_covers_every_test_example(tmp_path: Path) -> None:
    labels = [0, 1, 1, 0, 1]
    dataset = make_dataset(_shards(tmp_path, labels), ShardFormat("jpeg", 76, 67), 2, training=False, seed=0,
                           keys=True)
    model = build_alexnet(2, 67, seed=0, channel_mean=[127.0] * 3, channel_std=[74.0] * 3)
    true, probabilities, centre, keys = predict_dataset(model, dataset)
    assert sorted(true.tolist()) == sorted(labels)
    assert probabilities.shape == (5, 2) and np.array_equal(probabilities, centre)
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
    assert 0 <= metrics["roc_auc"] <= 1 and "top5_accuracy" not in metrics


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
    (paths.train_logs / TRAIN_SUMMARY_FILE).write_text(json.dumps({"epochs_run": 3, "best_epoch": 1,
                                                                   "best_loss": 0.25}))
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


def test_main_without_trains_summary_names_it(tmp_path: Path) -> None:
    params = _trained_project(tmp_path)
    (params.paths.train_logs / TRAIN_SUMMARY_FILE).unlink()
    with pytest.raises(PipelineError, match=r"reports/train/summary.json: not found; run the train stage first"):
        main(params)
    assert not params.paths.metrics.exists()
