"""Compare two dataset versions: classes, class balance, image size/format/brightness, files
added/removed/changed, leakage across versions, and an embedding drift score."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from alexnet_pipeline.config import DriftConfig
from alexnet_pipeline.drift.statistics import categorical_shift, mmd_shift, numeric_shift

EXAMPLES = 5  # file paths listed per kind of change
HISTOGRAM_BINS = 16
NUMERIC = ("width", "height", "brightness")


def _counts(table: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(key): int(value) for key, value in table[column].value_counts().sort_index().items()}


def _numbers(values: pd.Series) -> np.ndarray:
    """A column's finite numbers: a missing or unreadable figure (NaN, text) is left out."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return numbers[np.isfinite(numbers)]


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {}
    return {"min": round(float(values.min()), 3), "median": round(float(np.median(values)), 3),
            "max": round(float(values.max()), 3)}


def _histogram(old: np.ndarray, new: np.ndarray) -> dict[str, list[float]]:
    """Both versions' values in the same bins, as fractions, for the report's overlaid plot."""
    both = np.concatenate([old, new])
    if both.size == 0:
        return {"edges": [], "reference": [], "current": []}
    edges = np.histogram_bin_edges(both, bins=HISTOGRAM_BINS)

    def share(values: np.ndarray) -> list[float]:
        counts, _ = np.histogram(values, bins=edges)
        return [round(float(c) / max(values.size, 1), 4) for c in counts]

    return {"edges": [round(float(e), 3) for e in edges], "reference": share(old), "current": share(new)}


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
                     new_embeddings: np.ndarray | None, cfg: DriftConfig, seed: int) -> dict[str, Any]:
    """The drift report's body: every comparison with its figures, and `findings`, one line per
    kind of drift found (empty: no drift)."""
    p, effect = cfg.p_value, cfg.min_effect
    old_classes, new_classes = set(old["label"]), set(new["label"])
    classes = {"added": sorted(new_classes - old_classes), "removed": sorted(old_classes - new_classes)}
    balance = {**categorical_shift(_counts(old, "label"), _counts(new, "label"), p, effect).as_json(),
               "reference": _counts(old, "label"), "current": _counts(new, "label")}
    distributions: dict[str, Any] = {}
    for column in NUMERIC:
        old_values, new_values = _numbers(old[column]), _numbers(new[column])
        distributions[column] = {**numeric_shift(old_values, new_values, p, effect).as_json(),
                                 "reference": _summary(old_values), "current": _summary(new_values),
                                 "histogram": _histogram(old_values, new_values)}
    distributions["format"] = {**categorical_shift(_counts(old, "format"), _counts(new, "format"), p, effect).as_json(),
                               "reference": _counts(old, "format"), "current": _counts(new, "format")}
    leakage = cross_version_leakage(old, new)
    embedding = None
    if old_embeddings is not None and new_embeddings is not None:
        embedding = {**mmd_shift(old_embeddings, new_embeddings, cfg.permutations, seed, p).as_json(),
                     "sample_sizes": [len(old_embeddings), len(new_embeddings)]}
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
    return {"drifted": bool(findings), "findings": findings, "classes": classes, "class_balance": balance,
            "distributions": distributions, "files": file_changes(old, new), "leakage": leakage,
            "embedding": embedding}
