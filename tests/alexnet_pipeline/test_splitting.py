"""assign_splits: a seeded, stratified, reproducible train/val split that leaves test alone."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from alexnet_pipeline.splitting import assign_splits


def _manifest(counts: dict[str, int], test_per_class: int = 2, val_per_class: int = 0) -> pd.DataFrame:
    rows = []
    for label, n in counts.items():
        for split, k in (("train", n), ("test", test_per_class), ("val", val_per_class)):
            for i in range(k):
                path = f"{split}/{label}/{i:03d}.jpg"
                rows.append({"path": path, "split": split, "label": label,
                             "sha256": hashlib.sha256(path.encode()).hexdigest()})
    return pd.DataFrame(rows)


def _val_paths(manifest: pd.DataFrame, splits: pd.Series) -> set[str]:
    return set(manifest.loc[splits == "val", "path"])


def test_each_class_gets_round_n_times_fraction_val_images() -> None:
    manifest = _manifest({"a": 20, "b": 13, "c": 7})
    splits = assign_splits(manifest, 0.15, seed=42)
    val = manifest[splits == "val"]
    assert val["label"].value_counts().to_dict() == {"a": 3, "b": 2, "c": 1}  # 3.0, 1.95, 1.05
    assert (manifest.loc[splits == "val", "split"] == "train").all()  # val comes out of train
    assert len(splits) == len(manifest) and splits.index.equals(manifest.index)


def test_test_split_is_untouched() -> None:
    manifest = _manifest({"a": 10, "b": 10}, test_per_class=4)
    splits = assign_splits(manifest, 0.5, seed=1)
    is_test = manifest["split"] == "test"
    assert (splits[is_test] == "test").all()
    assert (splits[~is_test] != "test").all()


def test_same_input_and_seed_give_the_same_split() -> None:
    manifest = _manifest({"a": 30, "b": 30})
    first = assign_splits(manifest, 0.2, seed=7)
    assert first.equals(assign_splits(manifest.copy(), 0.2, seed=7))


def test_split_does_not_depend_on_row_order() -> None:
    manifest = _manifest({"a": 30, "b": 30})
    shuffled = manifest.sample(frac=1.0, random_state=3)
    assert _val_paths(manifest, assign_splits(manifest, 0.2, seed=7)) == _val_paths(
        shuffled, assign_splits(shuffled, 0.2, seed=7))


def test_seed_changes_the_assignment_but_not_the_counts() -> None:
    manifest = _manifest({"a": 30, "b": 30})
    one = assign_splits(manifest, 0.2, seed=7)
    other = assign_splits(manifest, 0.2, seed=8)
    assert _val_paths(manifest, one) != _val_paths(manifest, other)
    assert (one == "val").sum() == (other == "val").sum() == 12


def test_an_existing_val_split_is_kept_as_is() -> None:
    manifest = _manifest({"a": 10, "b": 10}, val_per_class=3)
    splits = assign_splits(manifest, 0.5, seed=1)
    assert splits.equals(manifest["split"])
    assert (splits == "val").sum() == 6


@pytest.mark.parametrize(("n", "fraction", "expected"), [
    (2, 0.15, 1),   # rounds to 0, but a class of 2 still gives one image to val
    (1, 0.5, 0),    # a single image stays in train
    (3, 0.9, 2),    # never the whole class: train keeps at least one
])
def test_small_classes_keep_train_and_val_images(n: int, fraction: float, expected: int) -> None:
    manifest = _manifest({"a": n, "b": 10})
    splits = assign_splits(manifest, fraction, seed=0)
    assert ((splits == "val") & (manifest["label"] == "a")).sum() == expected
    assert ((splits == "train") & (manifest["label"] == "a")).sum() == n - expected


def test_dataset_without_test_split_gets_test_then_val_carved_per_class() -> None:
    manifest = pd.DataFrame({
        "path": [f"train/{label}/{i}.jpg" for label in ("a", "b") for i in range(10)],
        "split": ["train"] * 20,
        "label": ["a"] * 10 + ["b"] * 10,
        "sha256": [f"{i:064x}" for i in range(20)],
    })
    splits = assign_splits(manifest, val_fraction=0.25, seed=1, test_fraction=0.2)
    for label in ("a", "b"):
        counts = splits[manifest["label"] == label].value_counts().to_dict()
        assert counts == {"train": 6, "val": 2, "test": 2}  # test 2 of 10, val 25% of the 8 left
    assert splits.equals(assign_splits(manifest, val_fraction=0.25, seed=1, test_fraction=0.2))
