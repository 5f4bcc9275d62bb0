"""preprocess: split, resize and shard the validated images; class index, stats and counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.artifacts import CLASSES_FILE, MANIFEST_FILE, SPLITS_FILE, STATS_FILE
from alexnet_pipeline.config import load_params
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.layout import find_images
from alexnet_pipeline.manifest import build_manifest
from alexnet_pipeline.tfrecords import FEATURES, shard_files
from stages.preprocess import main, preprocess
from tests.helpers import tree_digests, write_params

COLOURS = {"amber": (200, 100, 50), "black": (0, 0, 0)}
SIZE = 67


def _raw(root: Path, train: int = 5, test: int = 2) -> pd.DataFrame:
    """Solid-colour images of varied sizes: every pixel of a class has the class colour."""
    for label, colour in COLOURS.items():
        for split, n in (("train", train), ("test", test)):
            for i in range(n):
                path = root / split / label / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (40 + 7 * i, 90 - 5 * i), colour).save(path)
    return build_manifest(find_images(root), root)


def _params(root: Path, **overrides):
    return load_params(write_params(root, base__image_size=SIZE, preprocess__shard_size=4,
                                    preprocess__val_fraction=0.2, **overrides))


def _examples(files: list[str]) -> list[tuple[str, int, tuple]]:
    out = []
    for raw in tf.data.TFRecordDataset(files):
        example = tf.io.parse_single_example(raw, FEATURES)
        image = tf.io.decode_jpeg(example["image"]).numpy()
        out.append((example["key"].numpy().decode(), int(example["label"]), image.shape))
    return out


def test_preprocess_writes_shards_classes_stats_and_counts(tmp_path: Path) -> None:
    manifest = _raw(tmp_path / "raw")
    params = _params(tmp_path)
    out = tmp_path / "processed"
    out.mkdir()
    counts = preprocess(manifest, tmp_path / "raw", out, params.preprocess, SIZE, seed=1)

    assert counts == {"train": {"amber": 4, "black": 4}, "val": {"amber": 1, "black": 1},
                      "test": {"amber": 2, "black": 2}}
    assert json.loads((out / SPLITS_FILE).read_text()) == counts
    assert json.loads((out / CLASSES_FILE).read_text()) == ["amber", "black"]
    assert [Path(p).name for p in shard_files(out, "train")] == [
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]

    examples = {split: _examples(shard_files(out, split)) for split in ("train", "val", "test")}
    assert {split: len(e) for split, e in examples.items()} == {"train": 8, "val": 2, "test": 4}
    for items in examples.values():
        for key, label, shape in items:
            assert shape == (SIZE, SIZE, 3)
            assert label == ["amber", "black"].index(key.split("/")[1])
    assert sorted(k for k, _, _ in examples["test"]) == sorted(
        manifest.loc[manifest["split"] == "test", "path"])
    all_keys = [k for items in examples.values() for k, _, _ in items]
    assert sorted(all_keys) == sorted(manifest["path"])  # every image exactly once

    # train pixels: half amber (200, 100, 50), half black -> mean = half, std = half
    stats = json.loads((out / STATS_FILE).read_text())
    assert stats["image_size"] == SIZE and stats["pixels"] == 8 * SIZE * SIZE
    assert np.allclose(stats["mean"], [100, 50, 25], atol=1.0)
    assert np.allclose(stats["std"], [100, 50, 25], atol=1.0)


def test_main_is_deterministic(tmp_path: Path) -> None:
    manifest = _raw(tmp_path / "data" / "raw")
    params = _params(tmp_path)
    params.paths.validated.mkdir(parents=True)
    manifest.to_csv(params.paths.validated / MANIFEST_FILE, index=False)
    main(params)
    first = tree_digests(params.paths.processed)
    main(params)
    assert tree_digests(params.paths.processed) == first
    assert len([name for name in first if name.endswith(".tfrecord")]) == 2 + 1 + 1


def test_one_class_is_an_error(tmp_path: Path) -> None:
    manifest = _raw(tmp_path / "raw")
    one_class = manifest[manifest["label"] == "amber"]
    with pytest.raises(PipelineError, match="at least 2 are needed"):
        preprocess(one_class, tmp_path / "raw", tmp_path, _params(tmp_path).preprocess, SIZE, 0)


def test_no_test_split_gets_test_carved_from_train(tmp_path: Path) -> None:
    manifest = _raw(tmp_path / "data" / "raw", train=10, test=0)
    params = _params(tmp_path, preprocess__test_fraction=0.2)
    params.paths.validated.mkdir(parents=True)
    manifest.to_csv(params.paths.validated / MANIFEST_FILE, index=False)
    main(params)
    splits = json.loads((params.paths.processed / SPLITS_FILE).read_text())
    # per class: 2 of 10 to test, then 20% of the 8 left to val
    assert {split: set(counts.values()) for split, counts in splits.items()} == {
        "train": {6}, "val": {2}, "test": {2}}
    assert shard_files(params.paths.processed, "test")
