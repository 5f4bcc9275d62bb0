"""gate: decide whether this run's model replaces the blessed one, and report data drift.

The candidate (the `evaluate.model` model) must reach `gate.min_accuracy` (and
`gate.min_class_recall`), must not lose more than `gate.max_regression` accuracy against the
blessed model, both scored on this run's test split, and with `drift.on_drift: fail` must come
from data that did not drift. Writes `paths.drift` (this dataset against the blessed model's:
classes, class balance, image size/format/brightness, files, leakage across versions, embedding
MMD) and `paths.gate` (the decision, the checks, both models' figures, the versions). A promoted
candidate replaces `paths.blessed` (a persisted DVC output), which export serves; otherwise the
blessed model stays in place. Each image's split is read from preprocess's `split_table.csv`,
never assigned again, so drift and the blessed reference see the split the shards hold.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import pandas as pd

from alexnet_pipeline.config import DriftConfig, Params
from alexnet_pipeline.core.artifacts import MANIFEST_FILE, SHARDS_FILE, SPLIT_TABLE_FILE
from alexnet_pipeline.core.contracts import (
    ClassNames,
    DriftReport,
    EvaluationMetrics,
    GateDecision,
    SplitRow,
    read_contract,
    read_rows,
    write_contract,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.drift.comparison import compare_versions
from alexnet_pipeline.drift.dataset_table import dataset_table, read_table
from alexnet_pipeline.drift.embeddings import embed_files, sample_rows
from alexnet_pipeline.evaluation.scoring import test_metrics
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
from alexnet_pipeline.training.model import load_model

log = logging.getLogger(__name__)


def current_table(params: Params) -> pd.DataFrame:
    """This run's dataset table: the validated images, each in the split preprocess wrote in its
    split table (read, not assigned again), so that drift and the blessed model's reference see
    the very test split the models were scored on."""
    paths = params.paths
    return dataset_table(read_table(paths.validated / MANIFEST_FILE),
                         read_rows(SplitRow, paths.processed / SPLIT_TABLE_FILE))


def drift_report(table: pd.DataFrame, blessed: BlessedModel | None, embeddings: np.ndarray | None,
                 cfg: DriftConfig, seed: int) -> dict[str, Any]:
    """`paths.drift`: this dataset (`table`, `embeddings` by the blessed model) against the
    blessed model's; without a blessed model there is nothing to compare."""
    current = {"images": len(table), "classes": sorted(set(table["label"]))}
    if blessed is None:
        return {"reference": None, "current": current, "drifted": False, "findings": [], "on_drift": cfg.on_drift}
    reference = blessed.reference()
    body = compare_versions(reference, table, blessed.embeddings(), embeddings, cfg, seed)
    return {"reference": {"version": blessed.version.version, "images": len(reference),
                          "classes": sorted(set(reference["label"]))},
            "current": current, **body, "on_drift": cfg.on_drift}


def rescore(blessed: BlessedModel, model: keras.Model, labels: list[str], shards: ShardFormat,
            params: Params) -> tuple[dict[str, Any] | None, str]:
    """The blessed model's figures on this run's test split, and how they were obtained (or why
    they could not be: other classes or another input size)."""
    version = blessed.version.version
    if blessed.labels != labels:
        return None, (f"the blessed {version} was trained on classes {blessed.labels}, this data has {labels}: "
                      "its accuracy does not compare, so the regression check is skipped")
    if blessed.version.image_size != shards.image_size:
        return None, (f"the blessed {version} takes {blessed.version.image_size}px images, this run "
                      f"{shards.image_size}px: the regression check is skipped")
    metrics = test_metrics(model, params.paths.processed, params.evaluate.batch_size, params.evaluate.ten_crop,
                           params.base.seed, labels)
    return figures(metrics, version), f"the blessed {version} rescored on this run's test split ({metrics['num_examples']} images)"


def main(params: Params) -> None:
    """Gate the candidate against paths.blessed; write paths.gate and paths.drift."""
    paths = params.paths
    metrics = read_contract(EvaluationMetrics, paths.metrics).model_dump(mode="json")
    labels = read_contract(ClassNames, paths.labels).root
    shards = ShardFormat.read(paths.processed)
    table = current_table(params)
    files = [paths.raw / path for path in sample_rows(table, params.drift.sample_size, params.base.seed)["path"]]
    candidate = load_model(params.scored_model)
    blessed = read_blessed(paths.blessed)
    blessed_figures, note, embeddings = None, "nothing is blessed yet: the candidate is judged on the thresholds", None
    if blessed is not None:
        blessed_model = load_model(blessed.model_file)
        embeddings = embed_files(blessed_model, files, *blessed.input_format())
        blessed_figures, note = rescore(blessed, blessed_model, labels, shards, params)
    drift = drift_report(table, blessed, embeddings, params.drift, params.base.seed)
    digest = weights_digest(candidate)
    number = blessed.version.number + 1 if blessed else 1
    decision = decide(figures(metrics, None), blessed_figures, note, blessed.version.version if blessed else None,
                      version_name(number), blessed is not None and digest == blessed.version.weights_sha256,
                      drift, params.gate, params.drift)
    if decision["promoted"]:
        write_blessed(paths.blessed, params.scored_model, labels, paths.processed / SHARDS_FILE, {
            "version": version_name(number), "number": number, "weights_sha256": digest, "classes": labels,
            "image_size": shards.image_size, "accuracy": metrics["accuracy"], "loss": metrics["loss"],
            "images": len(table)}, table, embed_files(candidate, files, shards, params.preprocess.resize))
    else:
        ensure_exists(paths.blessed)
    write_contract(paths.drift, DriftReport, drift)
    write_contract(paths.gate, GateDecision, decision)
    for finding in drift["findings"]:
        log.warning("drift: %s", finding)
    (log.info if decision["status"] != "rejected" else log.warning)("gate: %s", decision["message"])


if __name__ == "__main__":
    run_stage("gate", main)
