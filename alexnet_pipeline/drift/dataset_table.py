"""One row per usable image of a dataset version, in the split it ended up in: what drift compares
and what the blessed store keeps of the blessed model's data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alexnet_pipeline.config import PreprocessConfig
from alexnet_pipeline.shards.splitting import assign_splits

TABLE_COLUMNS = ["path", "split", "label", "sha256", "format", "width", "height", "brightness"]


def dataset_table(manifest: pd.DataFrame, cfg: PreprocessConfig, seed: int) -> pd.DataFrame:
    """The validated manifest's images with the split preprocess assigns them (the same seeded,
    content-keyed assignment), so test means the test split the models were scored on."""
    final = assign_splits(manifest, cfg.val_fraction, seed, cfg.test_fraction)
    return manifest.assign(split=final)[TABLE_COLUMNS].reset_index(drop=True)


def read_table(path: Path) -> pd.DataFrame:
    """A table written by `write_table` (or a validated manifest), with string paths and labels."""
    return pd.read_csv(path, dtype={"path": str, "label": str, "sha256": str, "format": str},
                       keep_default_na=False, na_values={"brightness": [""], "width": [""], "height": [""]})


def write_table(table: pd.DataFrame, path: Path) -> None:
    table[TABLE_COLUMNS].to_csv(path, index=False)
