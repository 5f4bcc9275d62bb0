"""Deterministic, stratified assignment of train images to train and val.

Within each class, images are ordered by a seeded hash of their content and relative path, and
the first `round(n * val_fraction)` go to val. The same files and seed always give the same
split; a dataset's own val and test splits are kept as they are.
"""

from __future__ import annotations

import hashlib

import pandas as pd


def _rank_key(seed: int, sha256: str, path: str) -> str:
    return hashlib.sha256(f"{seed}:{sha256}:{path}".encode()).hexdigest()


def assign_splits(manifest: pd.DataFrame, val_fraction: float, seed: int) -> pd.Series:
    """Return the final split of every manifest row (index-aligned with `manifest`)."""
    splits = manifest["split"].copy()
    if (manifest["split"] == "val").any():
        return splits
    train = manifest[manifest["split"] == "train"]
    for _, group in train.groupby("label", sort=True):
        keys = [_rank_key(seed, sha, path) for sha, path in zip(group["sha256"], group["path"])]
        ordered = group.index[sorted(range(len(keys)), key=keys.__getitem__)]
        n_val = round(len(group) * val_fraction)
        n_val = min(max(n_val, 1 if len(group) >= 2 else 0), len(group) - 1)
        splits.loc[ordered[:n_val]] = "val"
    return splits
