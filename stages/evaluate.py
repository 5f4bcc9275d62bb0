"""evaluate: score the `evaluate.model` model (the best epoch's or the last) on the test shards.

Writes `paths.metrics`: which model was scored and from which epoch (`model`), top-level
`accuracy` and `loss` (over the paper's ten crops with `evaluate.ten_crop`, the centre crop
otherwise, with the ten-crop gain), `top5_accuracy` for 5
classes or more, `per_class`, macro/weighted F1, the confusion matrix (counts and normalized),
and for two classes the ROC AUC and average precision. `paths.eval_plots` gets the data of
`dvc plots`: `confusion.csv` (actual,predicted per image), `roc.csv` and `pr.csv` (two classes),
`predictions.csv` (every test image with its prediction and probabilities) and
`misclassified.csv` (the wrong ones, surest first).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from alexnet_pipeline.config import Params
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import (
    CONFUSION_FILE,
    MISCLASSIFIED_FILE,
    PR_FILE,
    PREDICTIONS_FILE,
    ROC_FILE,
    TRAIN_SUMMARY_FILE,
)
from alexnet_pipeline.core.contracts import (
    ClassNames,
    EvaluationMetrics,
    TrainSummary,
    read_contract,
    write_contract,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.evaluation.classification import binary_curves, classification_metrics
from alexnet_pipeline.evaluation.scoring import (
    PREDICTION_COLUMNS,
    csv_text,
    predict_test_split,
    prediction_rows,
    scored_model,
)
from alexnet_pipeline.input.tfrecords import ShardFormat, shard_files
from alexnet_pipeline.training.model import load_model

log = logging.getLogger(__name__)


def evaluate(true: np.ndarray, probabilities: np.ndarray, centre: np.ndarray, keys: list[str],
             classes: list[str], ten_crop: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The metrics, and the plot files of `paths.eval_plots` by name, from the predictions."""
    metrics = classification_metrics(true, probabilities, classes)
    if ten_crop:
        centre_metrics = classification_metrics(true, centre, classes)
        metrics["ten_crop"] = {"centre_accuracy": centre_metrics["accuracy"], "centre_loss": centre_metrics["loss"],
                               "gain": round(metrics["accuracy"] - centre_metrics["accuracy"], 6)}
    predicted = probabilities.argmax(axis=1)
    files = {
        CONFUSION_FILE: csv_text(["actual", "predicted"], [[classes[a], classes[p]] for a, p in zip(true, predicted,
                                                                                                strict=True)]),
        PREDICTIONS_FILE: csv_text(PREDICTION_COLUMNS, prediction_rows(true, probabilities, keys, classes)),
        MISCLASSIFIED_FILE: csv_text(PREDICTION_COLUMNS, prediction_rows(true, probabilities, keys, classes,
                                                                     wrong_only=True)),
    }
    if len(classes) == 2:
        curves = binary_curves(true, probabilities[:, 1])
        metrics["roc_auc"], metrics["average_precision"] = curves["roc_auc"], curves["average_precision"]
        files[ROC_FILE] = csv_text(["fpr", "tpr", "threshold"], [list(point.values()) for point in curves["roc"]])
        files[PR_FILE] = csv_text(["recall", "precision", "threshold"], [list(point.values()) for point in curves["pr"]])
    metrics["classes"] = classes
    return metrics, files


def main(params: Params) -> None:
    """Evaluate the `evaluate.model` model on the test shards of paths.processed."""
    paths, cfg = params.paths, params.evaluate
    files = shard_files(paths.processed, "test")
    if not files:
        raise PipelineError(f"{paths.processed}: no test shards; run the preprocess stage first")
    if not params.scored_model.exists():
        raise PipelineError(f"{params.scored_model}: not found; run the train stage first")
    summary = read_contract(TrainSummary, paths.train_logs / TRAIN_SUMMARY_FILE)
    classes = read_contract(ClassNames, paths.labels).root
    model = load_model(params.scored_model)
    shards = ShardFormat.read(paths.processed)
    if cfg.ten_crop and shards.stored_size == shards.image_size:
        log.info("ten crops of images stored at the input size (preprocess.resize: %s) differ only by "
                 "mirroring; the paper's corner crops need preprocess.resize: paper", params.preprocess.resize)
    metrics, plot_files = evaluate(*predict_test_split(model, paths.processed, cfg.batch_size, cfg.ten_crop,
                                                       params.base.seed), classes, cfg.ten_crop)
    metrics["model"] = scored_model(cfg.model, str(params.scored_model), summary)
    write_contract(paths.metrics, EvaluationMetrics, metrics)
    with atomic.atomic_path(paths.eval_plots) as tmp:
        tmp.mkdir()
        for name, text in plot_files.items():
            (tmp / name).write_text(text)
    centre = (f" (ten crops; the centre crop alone: {metrics['ten_crop']['centre_accuracy']:.4f})"
              if cfg.ten_crop else "")
    log.info("%s model (epoch %d): test accuracy %.4f, loss %.4f on %d images%s", cfg.model,
             metrics["model"]["epoch"], metrics["accuracy"], metrics["loss"], metrics["num_examples"], centre)


if __name__ == "__main__":
    run_stage("evaluate", main)
