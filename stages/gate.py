"""gate: decide whether this run's model replaces the blessed one, and report data drift.

The candidate (the `evaluate.model` model) must reach `gate.min_accuracy` (and
`gate.min_class_recall`), must not be worse than the blessed model beyond noise and by more than
`gate.max_regression` (both scored on the same test images and compared image by image:
McNemar's test at `gate.alpha`, with a bootstrap interval of the difference), must not have the
weights of a version rolled back out of serving, and with `drift.on_drift: fail` must come from
data that did not drift. Writes `paths.drift` (this dataset against the blessed model's:
classes, class balance, image size/format/brightness, files, leakage across versions, embedding
MMD, and without labels the blessed model's predicted classes and confidence on both, with the
most atypical new images), their thumbnails in `paths.drift_gallery`, and `paths.gate` (the
decision, the checks, both models' figures, the versions). A promoted candidate replaces `paths.blessed` (a persisted DVC output), which export serves, with its model
card; otherwise the blessed model stays in place. Every decision is appended to `paths.history`. Each image's split is read from preprocess's `split_table.csv`,
never assigned again, so drift and the blessed reference see the split the shards hold.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import pandas as pd

from alexnet_pipeline.config import DriftConfig, Params
from alexnet_pipeline.core.artifacts import (
    LAYOUT_FILE,
    MANIFEST_FILE,
    PREDICTIONS_FILE,
    SHARDS_FILE,
    SPLIT_TABLE_FILE,
    SPLITS_FILE,
    TRAIN_SUMMARY_FILE,
)
from alexnet_pipeline.core.contracts import (
    ClassNames,
    ContractError,
    DatasetLayout,
    DriftReport,
    EvaluationMetrics,
    GateDecision,
    HistoryEvent,
    PredictionRow,
    SplitCounts,
    SplitRow,
    TrainSummary,
    ValidationReport,
    read_contract,
    read_rows,
    write_contract,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.drift.atypical_images import most_atypical, write_gallery
from alexnet_pipeline.drift.comparison import compare_versions
from alexnet_pipeline.drift.dataset_table import data_fingerprint, dataset_table, read_table
from alexnet_pipeline.drift.embeddings import class_probabilities, embed_files, sample_rows
from alexnet_pipeline.evaluation.paired_comparison import compare_paired
from alexnet_pipeline.evaluation.scoring import test_answers
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.registry.blessed_store import (
    BlessedModel,
    ensure_exists,
    read_blessed,
    version_name,
    weights_digest,
    write_blessed,
)
from alexnet_pipeline.registry.gate import decide, figures
from alexnet_pipeline.registry.history import (
    append_event,
    now_utc,
    read_history,
    rolled_back_weights,
)
from alexnet_pipeline.reporting.model_card import build_card, card_markdown
from alexnet_pipeline.training.model import load_model

log = logging.getLogger(__name__)
SOURCE_KEYS = ("source", "dataset", "competition", "version", "path")  # the data's origin in layout.json


def current_table(params: Params) -> pd.DataFrame:
    """This run's dataset table: the validated images, each in the split preprocess wrote in its
    split table (read, not assigned again), so that drift and the blessed model's reference see
    the very test split the models were scored on."""
    paths = params.paths
    return dataset_table(read_table(paths.validated / MANIFEST_FILE),
                         read_rows(SplitRow, paths.processed / SPLIT_TABLE_FILE))


def drift_report(table: pd.DataFrame, blessed: BlessedModel | None, model: keras.Model | None,
                 sample: list[str], embeddings: np.ndarray | None, cfg: DriftConfig, seed: int) -> dict[str, Any]:
    """`paths.drift`: this dataset (`table`; its `sample` of paths embedded by the blessed
    `model` as `embeddings`) against the blessed model's, with the blessed model's predictions on
    both samples (its last layer applied to the embeddings: no labels, no second forward pass)
    and the gallery of the most atypical sampled images; without a blessed model there is nothing
    to compare."""
    current = {"images": len(table), "classes": sorted(set(table["label"]))}
    if blessed is None or model is None or embeddings is None:
        return {"reference": None, "current": current, "drifted": False, "findings": [], "on_drift": cfg.on_drift,
                "predictions": None, "gallery": []}
    reference, reference_embeddings, labels = blessed.reference(), blessed.embeddings(), blessed.labels
    probabilities = class_probabilities(model, reference_embeddings), class_probabilities(model, embeddings)
    body = compare_versions(reference, table, reference_embeddings, embeddings, cfg, seed,
                            probabilities=probabilities, labels=labels)
    return {"reference": {"version": blessed.version.version, "images": len(reference),
                          "classes": sorted(set(reference["label"]))},
            "current": current, **body, "on_drift": cfg.on_drift,
            "gallery": most_atypical(sample, reference_embeddings, embeddings, probabilities[1], labels)}


def candidate_right(params: Params) -> dict[str, bool]:
    """Whether evaluate's prediction of each test image (by path) was right."""
    rows = read_rows(PredictionRow, params.paths.eval_plots / PREDICTIONS_FILE)
    return {row.path: row.predicted == row.actual for row in rows}


def rescore(blessed: BlessedModel, model: keras.Model, labels: list[str], shards: ShardFormat,
            params: Params, candidate: dict[str, bool]) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """The blessed model's figures on this run's test split, its paired comparison with the
    candidate (`candidate`: right or wrong per image), and how they were obtained (or why they
    could not be: other classes or another input size)."""
    version = blessed.version.version
    if blessed.labels != labels:
        return None, None, (f"the blessed {version} was trained on classes {blessed.labels}, this data has {labels}: "
                            "its accuracy does not compare, so the regression check is skipped")
    if blessed.version.image_size != shards.image_size:
        return None, None, (f"the blessed {version} takes {blessed.version.image_size}px images, this run "
                            f"{shards.image_size}px: the regression check is skipped")
    metrics, blessed_right = test_answers(model, params.paths.processed, params.evaluate.batch_size,
                                          params.evaluate.ten_crop, params.base.seed, labels)
    order = sorted(blessed_right)
    if order != sorted(candidate):
        raise ContractError(f"{params.paths.eval_plots / PREDICTIONS_FILE} lists other images than the test shards; "
                            "rerun evaluate (dvc repro evaluate)")
    comparison = compare_paired(np.array([candidate[key] for key in order]), np.array([blessed_right[key] for key in order]),
                                1 - params.gate.alpha, params.gate.resamples, params.base.seed)
    return (figures(metrics, version), comparison,
            f"the blessed {version} rescored on this run's test split ({metrics['num_examples']} images)")


def rolled_back_note(digest: str, history: list[HistoryEvent]) -> str | None:
    """Why the candidate may not be promoted when a rollback took its weights out of serving."""
    rollback = rolled_back_weights(history).get(digest)
    if rollback is None:
        return None
    return (f"the candidate has the weights of {rollback.replaced}, rolled back to {rollback.version} at "
            f"{rollback.time} ({rollback.message}); train a new model to replace {rollback.version}")


def model_card(params: Params, version: dict[str, Any], blessed_at: str, table: pd.DataFrame,
               metrics: dict[str, Any], drift: dict[str, Any], decision: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The newly blessed version's card, from this run's contracts, and its Markdown."""
    paths = params.paths
    layout = read_contract(DatasetLayout, paths.raw / LAYOUT_FILE).model_dump(mode="json")
    summary_file = paths.train_logs / TRAIN_SUMMARY_FILE
    card = build_card(
        version, blessed_at, source={key: layout[key] for key in SOURCE_KEYS if layout.get(key) not in (None, "")},
        counts=read_contract(SplitCounts, paths.processed / SPLITS_FILE).root, metrics=metrics,
        summary=read_contract(TrainSummary, summary_file).model_dump(mode="json") if summary_file.exists() else None,
        model_params=params.model.model_dump(mode="json"), train_params=params.train.model_dump(mode="json"),
        image_size=params.base.image_size, resize=params.preprocess.resize, drift=drift,
        validation_leakage=len(read_contract(ValidationReport, paths.validation_report).leakage),
        decision=decision, confidence=1 - params.gate.alpha)
    return card, card_markdown(card)


def main(params: Params) -> None:
    """Gate the candidate against paths.blessed; write paths.gate and paths.drift, append to paths.history."""
    paths = params.paths
    metrics = read_contract(EvaluationMetrics, paths.metrics).model_dump(mode="json")
    labels = read_contract(ClassNames, paths.labels).root
    shards = ShardFormat.read(paths.processed)
    table = current_table(params)
    sample = sample_rows(table, params.drift.sample_size, params.base.seed)["path"].tolist()
    files = [paths.raw / path for path in sample]
    candidate = load_model(params.scored_model)
    blessed = read_blessed(paths.blessed)
    history = read_history(paths.history)
    blessed_figures, comparison, embeddings, blessed_model = None, None, None, None
    note = "nothing is blessed yet: the candidate is judged on the thresholds"
    if blessed is not None:
        blessed_model = load_model(blessed.model_file)
        embeddings = embed_files(blessed_model, files, *blessed.input_format())
        blessed_figures, comparison, note = rescore(blessed, blessed_model, labels, shards, params,
                                                    candidate_right(params))
    drift = drift_report(table, blessed, blessed_model, sample, embeddings, params.drift, params.base.seed)
    digest = weights_digest(candidate)
    number = blessed.version.number + 1 if blessed else 1
    same = blessed is not None and digest == blessed.version.weights_sha256
    decision = decide(figures(metrics, None), blessed_figures, note, blessed.version.version if blessed else None,
                      version_name(number), same, drift, params.gate, params.drift, comparison,
                      None if same else rolled_back_note(digest, history))
    now, fingerprint = now_utc(), data_fingerprint(table)
    if decision["promoted"]:
        version = {"version": version_name(number), "number": number, "weights_sha256": digest, "classes": labels,
                   "image_size": shards.image_size, "accuracy": metrics["accuracy"], "loss": metrics["loss"],
                   "images": len(table), "data_fingerprint": fingerprint}
        write_blessed(paths.blessed, params.scored_model, labels, paths.processed / SHARDS_FILE, version, table,
                      embed_files(candidate, files, shards, params.preprocess.resize),
                      model_card(params, version, now, table, metrics, drift, decision))
    else:
        ensure_exists(paths.blessed)
    write_gallery(paths.drift_gallery, paths.raw, drift["gallery"])
    write_contract(paths.drift, DriftReport, drift)
    write_contract(paths.gate, GateDecision, decision)
    append_event(paths.history, {
        "time": now, "event": "gate", "outcome": decision["status"],
        "version": decision["candidate"]["version"] or (decision["serving_version"] if same else None),
        "serving_version": decision["serving_version"], "data_fingerprint": fingerprint,
        "accuracy": metrics["accuracy"], "weights_sha256": digest, "replaced": None,
        "replaced_weights_sha256": None, "message": decision["message"]})
    for finding in drift["findings"]:
        log.warning("drift: %s", finding)
    (log.info if decision["status"] != "rejected" else log.warning)("gate: %s", decision["message"])


if __name__ == "__main__":
    run_stage("gate", main)
