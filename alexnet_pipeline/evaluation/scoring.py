"""Scoring a model on batched test data: ten-crop averaging, the per-image prediction rows of
`predictions.csv` / `misclassified.csv`, and which saved model was scored."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from alexnet_pipeline.core.contracts import PredictionRow, TrainSummary
from alexnet_pipeline.evaluation.classification import classification_metrics
from alexnet_pipeline.input.reader import make_dataset
from alexnet_pipeline.input.tfrecords import ShardFormat, shard_files

CENTRE = 4  # index of the centre crop among the ten


def predict_dataset(model: keras.Model, dataset: tf.data.Dataset
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(true labels, probabilities, centre-crop probabilities, keys) over a batched dataset of
    (images, labels, keys); images of ten crops each are scored as one batch and averaged."""
    labels, averaged, centre, keys = [], [], [], []
    for images, batch_labels, batch_keys in dataset:
        if images.shape.rank == 5:  # (batch, 10 crops, size, size, 3)
            crops = np.asarray(model(tf.reshape(images, (-1, *images.shape[2:])), training=False))
            crops = crops.reshape(images.shape[0], images.shape[1], -1)
            averaged.append(crops.mean(axis=1))
            centre.append(crops[:, CENTRE])
        else:
            probabilities = np.asarray(model(images, training=False))
            averaged.append(probabilities)
            centre.append(probabilities)
        labels.append(batch_labels.numpy())
        keys.extend(key.decode() for key in batch_keys.numpy())
    return np.concatenate(labels), np.concatenate(averaged), np.concatenate(centre), keys


def predict_test_split(model: keras.Model, processed: Path, batch_size: int, ten_crop: bool, seed: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """`predict_dataset` over the test shards in `processed`: the ten crops or the centre crop."""
    dataset = make_dataset(shard_files(processed, "test"), ShardFormat.read(processed), batch_size,
                           training=False, seed=seed, ten_crop=ten_crop, keys=True)
    return predict_dataset(model, dataset)


def test_answers(model: keras.Model, processed: Path, batch_size: int, ten_crop: bool, seed: int,
                 classes: list[str]) -> tuple[dict[str, Any], dict[str, bool]]:
    """`classification_metrics` of `model` on the test shards in `processed`, scored as the
    evaluate stage scores them, and whether it classified each test image (by key) right."""
    true, probabilities, _, keys = predict_test_split(model, processed, batch_size, ten_crop, seed)
    right = dict(zip(keys, (probabilities.argmax(axis=1) == true).tolist(), strict=True))
    return classification_metrics(true, probabilities, classes), right


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


PREDICTION_COLUMNS = list(PredictionRow.model_fields)  # path, actual, predicted, p_predicted, p_actual


def prediction_rows(true: np.ndarray, probabilities: np.ndarray, keys: list[str], classes: list[str],
                    wrong_only: bool = False) -> list[list[Any]]:
    """path, actual, predicted, p(predicted), p(actual) per test image in test order; with
    `wrong_only`, the wrong predictions, surest first."""
    predicted = probabilities.argmax(axis=1)
    rows = np.arange(len(true))
    if wrong_only:
        rows = np.flatnonzero(predicted != true)
        rows = rows[np.argsort(-probabilities[rows, predicted[rows]], kind="stable")]
    return [[keys[i], classes[true[i]], classes[predicted[i]], round(float(probabilities[i, predicted[i]]), 6),
             round(float(probabilities[i, true[i]]), 6)] for i in rows]


def scored_model(choice: str, path: str, summary: TrainSummary) -> dict[str, Any]:
    """Which model is scored, from which epoch (counted from 1), out of how many the run trained
    (train's summary.json). Without a finite loss there is no best epoch: the last one is saved."""
    epoch = summary.best_epoch if choice == "best" and summary.best_epoch else summary.epochs_run
    return {"choice": choice, "path": path, "epoch": epoch, "epochs_run": summary.epochs_run,
            "best_epoch": summary.best_epoch or None, "best_loss": summary.best_loss}
