"""One row per usable image of a dataset version, in the split preprocess put it in: what drift
compares and what the blessed store keeps of the blessed model's data."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from alexnet_pipeline.core.artifacts import SPLIT_TABLE_FILE
from alexnet_pipeline.core.contracts import SplitRow
from alexnet_pipeline.errors import PipelineError

TABLE_COLUMNS = ["path", "split", "label", "sha256", "format", "width", "height", "brightness"]
EXAMPLES = 3  # paths named per kind of mismatch


class StaleSplitError(PipelineError):
    """The split table and the validated manifest list different images: one of them is stale."""


def _some(paths: Sequence[str]) -> str:
    return ", ".join(paths[:EXAMPLES]) + (", ..." if len(paths) > EXAMPLES else "")


def dataset_table(manifest: pd.DataFrame, splits: Sequence[SplitRow]) -> pd.DataFrame:
    """The validated manifest's images, each in the split preprocess put it in (its split table,
    read rather than assigned again), so that test means the test split the models were scored
    on. The two must list the same images with the same labels: otherwise the processed folder
    was made from other data, and a StaleSplitError says so."""
    by_path = {row.path: row for row in splits}
    paths = manifest["path"].tolist()
    unlisted = sorted(set(paths) - set(by_path))
    extra = sorted(set(by_path) - set(paths))
    relabelled = sorted(path for path, label in manifest.set_index("path")["label"].items()
                        if path in by_path and by_path[path].label != label)
    problems = [f"{len(found)} {what} ({_some(found)})" for found, what in (
        (unlisted, "validated image(s) not in it"), (extra, "image(s) the manifest lacks"),
        (relabelled, "image(s) with another label")) if found]
    if len(by_path) != len(splits):
        problems.append(f"{len(splits) - len(by_path)} path(s) listed twice")
    if problems:
        raise StaleSplitError(f"preprocess's {SPLIT_TABLE_FILE} does not match the validated "
                              f"manifest: {'; '.join(problems)}; rerun preprocess "
                              "(dvc repro preprocess)")
    table = manifest.assign(split=[by_path[path].split for path in paths])
    return table[TABLE_COLUMNS].reset_index(drop=True)


def read_table(path: Path) -> pd.DataFrame:
    """A table written by `write_table` (or a validated manifest), with string paths and labels."""
    return pd.read_csv(path, dtype={"path": str, "label": str, "sha256": str, "format": str},
                       keep_default_na=False, na_values={"brightness": [""], "width": [""], "height": [""]})


def write_table(table: pd.DataFrame, path: Path) -> None:
    table[TABLE_COLUMNS].to_csv(path, index=False)


def data_fingerprint(table: pd.DataFrame) -> str:
    """The dataset's version: SHA-256 over each image's split, class and content hash, in sorted
    order, so that renamed or reordered files keep it and any moved, relabelled or changed image
    changes it."""
    lines = sorted(f"{split}\t{label}\t{sha}" for split, label, sha in
                   zip(table["split"], table["label"], table["sha256"], strict=True))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
