"""Deterministic, stratified assignment of train images to train, val and (if missing) test.

Each image's place depends on a seeded hash of its content alone: it goes to test when the
hash, as a number in [0, 1), is below `test_fraction` (only when the dataset has no test split),
to val when it is below `test_fraction + val_fraction` (only when it has no val split), else it
stays in train. So adding images never moves existing ones, and every class gets about the same
share. In a class so small that the hash gives it no val (or test) image, its lowest-hash
train image moves there, and a class the hash leaves without train images keeps its highest;
only in those cases can a later addition change an assignment. A dataset's own val and test
splits are kept as they are.
"""

from __future__ import annotations

import hashlib

import pandas as pd


def unit_hash(seed: int, content_key: str) -> float:
    """A seeded hash of `content_key` as a number in [0, 1)."""
    digest = hashlib.sha256(f"{seed}:{content_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(manifest: pd.DataFrame, val_fraction: float, seed: int,
                  test_fraction: float = 0.0) -> pd.Series:
    """Return the final split of every manifest row (index-aligned with `manifest`)."""
    splits = manifest["split"].copy()
    carve_test = test_fraction > 0 and not (manifest["split"] == "test").any()
    carve_val = not (manifest["split"] == "val").any()
    test_cut = test_fraction if carve_test else 0.0
    val_cut = test_cut + (val_fraction if carve_val else 0.0)
    train = manifest[manifest["split"] == "train"]
    position = pd.Series([unit_hash(seed, key) for key in train["sha256"]], index=train.index)
    splits.loc[position.index[position < test_cut]] = "test"
    splits.loc[position.index[(position >= test_cut) & (position < val_cut)]] = "val"
    for _, group in train.groupby("label", sort=True):
        if not (splits.loc[group.index] == "train").any():  # train keeps at least one image
            splits.loc[position.loc[group.index].idxmax()] = "train"
        for split, wanted in (("test", carve_test), ("val", carve_val)):
            remaining = splits.loc[group.index]
            if wanted and not (remaining == split).any() and (remaining == "train").sum() >= 2:
                lowest = position.loc[remaining.index[remaining == "train"]].idxmin()
                splits.loc[lowest] = split
    return splits
