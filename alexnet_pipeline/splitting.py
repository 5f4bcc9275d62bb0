"""Deterministic, stratified assignment of train images to train, val and (if missing) test.

Within each class, images are ordered by a seeded hash of their content and relative path; the
first `round(n * test_fraction)` go to test when the dataset has no test split, the next
`round(n * val_fraction)` to val when it has no val split. The same files and seed always give
the same split; a dataset's own val and test splits are kept as they are.
"""

from __future__ import annotations

import hashlib

import pandas as pd


def _rank_key(seed: int, sha256: str, path: str) -> str:
    return hashlib.sha256(f"{seed}:{sha256}:{path}".encode()).hexdigest()


def _take(n: int, fraction: float) -> int:
    """How many of `n` images a held-out split gets: at least 1, always leaving 1 for train."""
    return min(max(round(n * fraction), 1 if n >= 2 else 0), n - 1)


def assign_splits(manifest: pd.DataFrame, val_fraction: float, seed: int,
                  test_fraction: float = 0.0) -> pd.Series:
    """Return the final split of every manifest row (index-aligned with `manifest`)."""
    splits = manifest["split"].copy()
    carve_test = test_fraction > 0 and not (manifest["split"] == "test").any()
    carve_val = not (manifest["split"] == "val").any()
    train = manifest[manifest["split"] == "train"]
    for _, group in train.groupby("label", sort=True):
        keys = [_rank_key(seed, sha, path) for sha, path in zip(group["sha256"], group["path"], strict=True)]
        ordered = group.index[sorted(range(len(keys)), key=keys.__getitem__)]
        n_test = _take(len(group), test_fraction) if carve_test else 0
        splits.loc[ordered[:n_test]] = "test"
        if carve_val:
            n_val = _take(len(group) - n_test, val_fraction)
            splits.loc[ordered[n_test:n_test + n_val]] = "val"
    return splits
