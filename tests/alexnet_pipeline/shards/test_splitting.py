"""assign_splits: a seeded, stratified, reproducible train/val split that leaves test alone."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from alexnet_pipeline.shards.splitting import assign_splits


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


def test_each_class_gets_about_its_share_of_val_images() -> None:
    manifest = _manifest({"a": 2000, "b": 1000})
    splits = assign_splits(manifest, 0.15, seed=42)
    val = manifest[splits == "val"]["label"].value_counts()
    assert abs(val["a"] / 2000 - 0.15) < 0.03 and abs(val["b"] / 1000 - 0.15) < 0.03
    assert (manifest.loc[splits == "val", "split"] == "train").all()  # val comes out of train
    assert len(splits) == len(manifest) and splits.index.equals(manifest.index)


def test_adding_images_never_moves_existing_ones() -> None:
    before = _manifest({"a": 60, "b": 60})
    after = pd.concat([before, _manifest({"a": 90, "b": 75, "c": 30}).iloc[::3]]).drop_duplicates("path")
    after = after.reset_index(drop=True)
    old = dict(zip(before["path"], assign_splits(before, 0.2, seed=5, test_fraction=0.0), strict=True))
    new = dict(zip(after["path"], assign_splits(after, 0.2, seed=5, test_fraction=0.0), strict=True))
    assert len(new) > len(old)
    assert {path: new[path] for path in old} == old


def test_carved_test_and_val_do_not_overlap_and_both_are_stable() -> None:
    manifest = _manifest({"a": 400, "b": 400}, test_per_class=0)
    splits = assign_splits(manifest, 0.15, seed=3, test_fraction=0.2)
    shares = splits.value_counts(normalize=True)
    assert abs(shares["test"] - 0.2) < 0.04 and abs(shares["val"] - 0.15) < 0.04
    grown = pd.concat([manifest, _manifest({"a": 450}, test_per_class=0).iloc[400:]]).reset_index(drop=True)
    regrown = assign_splits(grown, 0.15, seed=3, test_fraction=0.2)
    assert regrown.iloc[: len(manifest)].equals(splits)


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


def test_seed_changes_the_assignment() -> None:
    manifest = _manifest({"a": 30, "b": 30})
    one = assign_splits(manifest, 0.2, seed=7)
    other = assign_splits(manifest, 0.2, seed=8)
    assert _val_paths(manifest, one) != _val_paths(manifest, other)


def test_an_existing_val_split_is_kept_as_is() -> None:
    manifest = _manifest({"a": 10, "b": 10}, val_per_class=3)
    splits = assign_splits(manifest, 0.5, seed=1)
    assert splits.equals(manifest["split"])
    assert (splits == "val").sum() == 6


@pytest.mark.parametrize(("n", "fraction"), [(2, 0.15), (3, 0.9), (5, 0.01), (4, 0.99)])
def test_small_classes_keep_train_and_get_a_val_image(n: int, fraction: float) -> None:
    manifest = _manifest({"a": n, "b": 10})
    for seed in range(5):
        splits = assign_splits(manifest, fraction, seed=seed)
        a = splits[(manifest["label"] == "a") & (manifest["split"] == "train")]
        assert (a == "val").sum() >= 1 and (a == "train").sum() >= 1


def test_a_single_image_class_stays_in_train() -> None:
    manifest = _manifest({"a": 1, "b": 10})
    only_train_a = (manifest["label"] == "a") & (manifest["split"] == "train")
    for seed in range(5):
        assert assign_splits(manifest, 0.5, seed=seed)[only_train_a].tolist() == ["train"]


def test_dataset_without_test_split_gets_test_and_val_carved_per_class() -> None:
    manifest = pd.DataFrame({
        "path": [f"train/{label}/{i}.jpg" for label in ("a", "b") for i in range(10)],
        "split": ["train"] * 20,
        "label": ["a"] * 10 + ["b"] * 10,
        "sha256": [f"{i:064x}" for i in range(20)],
    })
    splits = assign_splits(manifest, val_fraction=0.25, seed=1, test_fraction=0.2)
    for label in ("a", "b"):
        counts = splits[manifest["label"] == label].value_counts().to_dict()
        assert counts["test"] >= 1 and counts["val"] >= 1 and counts["train"] >= 4
    assert splits.equals(assign_splits(manifest, val_fraction=0.25, seed=1, test_fraction=0.2))
