"""Compare two dataset versions: classes, class balance, image size/format/brightness, files
added/removed/changed, leakage across versions, an embedding drift score, and the blessed
model's predictions on both (label-free)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from alexnet_pipeline.config import DriftConfig
from alexnet_pipeline.drift.prediction_shift import prediction_findings, prediction_shift
from alexnet_pipeline.drift.statistics import (
    categorical_shift,
    histogram,
    mmd_shift,
    numeric_shift,
    summary,
)

EXAMPLES = 5  # file paths listed per kind of change
NUMERIC = ("width", "height", "brightness")


def _counts(table: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(key): int(value) for key, value in table[column].value_counts().sort_index().items()}


def _numbers(values: pd.Series) -> np.ndarray:
    """A column's finite numbers: a missing or unreadable figure (NaN, text) is left out."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return numbers[np.isfinite(numbers)]


def file_changes(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, Any]:
    """Files by path: added, removed, and changed (same path, other content)."""
    old_hash = old.set_index("path")["sha256"].to_dict()
    new_hash = new.set_index("path")["sha256"].to_dict()
    added = sorted(set(new_hash) - set(old_hash))
    removed = sorted(set(old_hash) - set(new_hash))
    changed = sorted(path for path in set(old_hash) & set(new_hash) if old_hash[path] != new_hash[path])
    unchanged = len(set(old_hash) & set(new_hash)) - len(changed)
    return {"added": len(added), "removed": len(removed), "changed": len(changed), "unchanged": unchanged,
            "examples": {"added": added[:EXAMPLES], "removed": removed[:EXAMPLES], "changed": changed[:EXAMPLES]}}


def cross_version_leakage(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, Any]:
    """New train images identical (by content) to images of the old test split: the new model
    trains on what the blessed model was tested on, which no check of one version can see."""
    old_test = old[old["split"] == "test"].drop_duplicates("sha256").set_index("sha256")["path"]
    leaked = new[(new["split"] == "train") & new["sha256"].isin(old_test.index)].sort_values("path")
    return {"count": len(leaked),
            "examples": [{"path": row["path"], "reference_path": str(old_test[row["sha256"]])}
                         for _, row in leaked.head(EXAMPLES).iterrows()]}


def compare_versions(old: pd.DataFrame, new: pd.DataFrame, old_embeddings: np.ndarray | None,
                     new_embeddings: np.ndarray | None, cfg: DriftConfig, seed: int, *,
                     probabilities: tuple[np.ndarray, np.ndarray] | None = None,
                     labels: Sequence[str] = ()) -> dict[str, Any]:
    """The drift report's body: every comparison with its figures, and `findings`, one line per
    kind of drift found (empty: no drift). `probabilities`, the blessed model's class
    probabilities (in the order of `labels`) of the old and the new embedding sample, add the
    label-free prediction tests; without them `predictions` is None."""
    p, effect = cfg.p_value, cfg.min_effect
    old_classes, new_classes = set(old["label"]), set(new["label"])
    classes = {"added": sorted(new_classes - old_classes), "removed": sorted(old_classes - new_classes)}
    balance = {**categorical_shift(_counts(old, "label"), _counts(new, "label"), p, effect).as_json(),
               "reference": _counts(old, "label"), "current": _counts(new, "label")}
    distributions: dict[str, Any] = {}
    for column in NUMERIC:
        old_values, new_values = _numbers(old[column]), _numbers(new[column])
        distributions[column] = {**numeric_shift(old_values, new_values, p, effect).as_json(),
                                 "reference": summary(old_values), "current": summary(new_values),
                                 "histogram": histogram(old_values, new_values)}
    distributions["format"] = {**categorical_shift(_counts(old, "format"), _counts(new, "format"), p, effect).as_json(),
                               "reference": _counts(old, "format"), "current": _counts(new, "format")}
    leakage = cross_version_leakage(old, new)
    embedding = None
    if old_embeddings is not None and new_embeddings is not None:
        embedding = {**mmd_shift(old_embeddings, new_embeddings, cfg.permutations, seed, p).as_json(),
                     "sample_sizes": [len(old_embeddings), len(new_embeddings)]}
    predictions = None if probabilities is None else prediction_shift(*probabilities, labels, p, effect)
    findings = []
    if classes["added"] or classes["removed"]:
        findings.append(f"classes changed: added {classes['added'] or 'none'}, removed {classes['removed'] or 'none'}")
    if balance["drifted"]:
        findings.append(f"class balance shifted (total variation {balance['effect']:.3f}, p={balance['p_value']:.2g})")
    for name, result in distributions.items():
        if result["drifted"]:
            findings.append(f"image {name} distribution shifted (distance {result['effect']:.3f}, "
                            f"p={result['p_value']:.2g})")
    if leakage["count"]:
        findings.append(f"{leakage['count']} new train images are identical to test images of the blessed "
                        "model's data (leakage across versions)")
    if embedding is not None and embedding["drifted"]:
        findings.append(f"embeddings shifted (MMD^2 {embedding['statistic']:.4g}, p={embedding['p_value']:.2g})")
    if predictions is not None:
        findings += prediction_findings(predictions)
    return {"drifted": bool(findings), "findings": findings, "classes": classes, "class_balance": balance,
            "distributions": distributions, "files": file_changes(old, new), "leakage": leakage,
            "embedding": embedding, "predictions": predictions}
