"""evaluate: score the trained model on the test shards.

Writes `paths.metrics` (top-level `accuracy`, `loss`, `per_class`, macro/weighted F1 and the
confusion matrix) and `paths.eval_plots/confusion.csv` (one actual,predicted row per test
image, for `dvc plots`'s confusion template).
"""

from __future__ import annotations

import csv
import io
import json
import logging

import keras
import numpy as np
import tensorflow as tf

from alexnet_pipeline import atomic
from alexnet_pipeline.artifacts import CONFUSION_FILE
from alexnet_pipeline.classification import classification_metrics
from alexnet_pipeline.config import Params
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.model import load_model
from alexnet_pipeline.reader import make_dataset
from alexnet_pipeline.stage_runner import run_stage
from alexnet_pipeline.tfrecords import ShardFormat, shard_files

log = logging.getLogger(__name__)


def predict_dataset(model: keras.Model, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Return (true labels, predicted probabilities) over a batched dataset."""
    labels, probabilities = [], []
    for images, batch_labels in dataset:
        probabilities.append(np.asarray(model(images, training=False)))
        labels.append(batch_labels.numpy())
    return np.concatenate(labels), np.concatenate(probabilities)


def confusion_rows(true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> str:
    """CSV text with one `actual,predicted` row per example, for dvc's confusion plot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["actual", "predicted"])
    for actual, predicted in zip(true, probabilities.argmax(axis=1)):
        writer.writerow([classes[actual], classes[predicted]])
    return buffer.getvalue()


def main(params: Params) -> None:
    """Evaluate paths.model on the test shards of paths.processed."""
    paths = params.paths
    files = shard_files(paths.processed, "test")
    if not files:
        raise PipelineError(f"{paths.processed}: no test shards; run the preprocess stage first")
    if not paths.model.exists():
        raise PipelineError(f"{paths.model}: no trained model; run the train stage first")
    classes = json.loads(paths.labels.read_text())
    model = load_model(paths.model)
    dataset = make_dataset(files, ShardFormat.read(paths.processed), params.evaluate.batch_size,
                           training=False, seed=params.base.seed)
    true, probabilities = predict_dataset(model, dataset)
    metrics = classification_metrics(true, probabilities, classes)
    metrics["classes"] = classes
    atomic.write_json(paths.metrics, metrics)
    with atomic.atomic_path(paths.eval_plots) as tmp:
        tmp.mkdir()
        (tmp / CONFUSION_FILE).write_text(confusion_rows(true, probabilities, classes))
    log.info("test accuracy %.4f, loss %.4f on %d images", metrics["accuracy"], metrics["loss"],
             metrics["num_examples"])


if __name__ == "__main__":
    run_stage("evaluate", main)
