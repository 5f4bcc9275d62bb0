"""preprocess: split, resize and shard the validated images; class index, stats and counts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.artifacts import (
    CLASSES_FILE,
    MANIFEST_FILE,
    SHARDS_FILE,
    SPLIT_TABLE_FILE,
    SPLITS_FILE,
    STATS_FILE,
)
from alexnet_pipeline.core.contracts import SplitRow, read_rows
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.input.batch_mixing import batch_mixing, uniform_shuffle_spread
from alexnet_pipeline.input.reader import SHUFFLE_BUFFER, make_dataset
from alexnet_pipeline.input.tfrecords import FEATURES, ShardFormat, shard_files
from alexnet_pipeline.shards.images import prepare_image
from alexnet_pipeline.shards.shard_format import shard_name
from alexnet_pipeline.shards.shard_writer import STATS_STRIDE
from alexnet_pipeline.shards.splitting import assign_splits
from alexnet_pipeline.sources.layout import find_images
from alexnet_pipeline.validation.manifest import build_manifest
from stages.gate import current_table
from stages.preprocess import main, preprocess
from tests.helpers import REPO_ROOT, subprocess_env, tree_digests, write_image, write_params

COLOURS = {"amber": (200, 100, 50), "black": (0, 0, 0)}
SIZE = 67


def _raw(root: Path, train: int = 5, test: int = 2) -> pd.DataFrame:
    """Solid-colour images of varied sizes: every pixel of a class has the class colour."""
    for label, colour in COLOURS.items():
        for split, n in (("train", train), ("test", test)):
            for i in range(n):
                path = root / split / label / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (40 + i, 90 - i), colour).save(path)
    return build_manifest(find_images(root), root)


def _params(root: Path, **overrides):
    settings = {"base__image_size": SIZE, "preprocess__shard_size": 4, "preprocess__val_fraction": 0.2,
                "preprocess__resize": "crop", "preprocess__workers": 1, **overrides}
    return load_params(write_params(root, **settings))


def _examples(files: list[str]) -> list[tuple[str, int, tuple]]:
    out = []
    for raw in tf.data.TFRecordDataset(files):
        example = tf.io.parse_single_example(raw, FEATURES)
        image = tf.io.decode_jpeg(example["image"]).numpy()
        assert (int(example["height"]), int(example["width"])) == image.shape[:2]
        out.append((example["key"].numpy().decode(), int(example["label"]), image.shape))
    return out


def _keys_by_split(processed: Path) -> dict[str, set[str]]:
    return {split: {key for key, _, _ in _examples(shard_files(processed, split))}
            for split in ("train", "val", "test")}


def _stage_inputs(root: Path, manifest: pd.DataFrame, **overrides):
    params = _params(root, **overrides)
    params.paths.validated.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(params.paths.validated / MANIFEST_FILE, index=False)
    return params


def test_preprocess_writes_shards_classes_stats_and_counts(tmp_path: Path) -> None:
    manifest = _raw(tmp_path / "raw", train=10)
    params = _params(tmp_path, preprocess__jpeg_quality=85)
    out = tmp_path / "processed"
    out.mkdir()
    counts = preprocess(manifest, tmp_path / "raw", out, params.preprocess, SIZE, seed=1)

    assert json.loads((out / SPLITS_FILE).read_text()) == counts
    for label in COLOURS:
        assert counts["test"][label] == 2 and counts["val"][label] >= 1
        assert counts["train"][label] + counts["val"][label] == 10
    assert json.loads((out / CLASSES_FILE).read_text()) == ["amber", "black"]
    assert json.loads((out / SHARDS_FILE).read_text()) == {
        "encoding": "jpeg", "resize": "crop", "image_size": SIZE, "stored_size": SIZE, "jpeg_quality": 85}
    n_train = sum(counts["train"].values())
    assert [Path(p).name for p in shard_files(out, "train")] == [
        shard_name("train", i, -(-n_train // 4)) for i in range(-(-n_train // 4))]

    examples = {split: _examples(shard_files(out, split)) for split in ("train", "val", "test")}
    for items in examples.values():
        for key, label, shape in items:
            assert shape == (SIZE, SIZE, 3)
            assert label == ["amber", "black"].index(key.split("/")[1])
    all_keys = [k for items in examples.values() for k, _, _ in items]
    assert sorted(all_keys) == sorted(manifest["path"])  # every image exactly once

    # train pixels: half amber (200, 100, 50), half black -> mean = std = half of amber, and
    # the RGB covariance has one principal component, along amber, with variance |amber|^2 / 4
    stats = json.loads((out / STATS_FILE).read_text())
    sampled = len(range(0, SIZE, STATS_STRIDE)) ** 2  # a 4 x 4 grid of each image
    assert stats["image_size"] == SIZE and stats["pixels"] == n_train * sampled
    amber = np.array(COLOURS["amber"], dtype=float)
    assert np.allclose(stats["mean"], amber / 2, atol=1.0)
    assert np.allclose(stats["std"], amber / 2, atol=1.0)
    assert stats["eigenvalues"][0] == pytest.approx(amber @ amber / 4, rel=0.02)
    assert stats["eigenvalues"][1] == pytest.approx(0, abs=1.0)
    first_component = np.array(stats["eigenvectors"])[:, 0]
    assert np.allclose(first_component, amber / np.linalg.norm(amber), atol=0.01)


def _small_run(tmp_path: Path, **overrides) -> tuple[pd.DataFrame, Path]:
    """preprocess on 3 train and 1 test image per class into tmp_path/processed."""
    manifest = _raw(tmp_path / "raw", train=3, test=1)
    out = tmp_path / "processed"
    out.mkdir()
    preprocess(manifest, tmp_path / "raw", out, _params(tmp_path, **overrides).preprocess, SIZE, seed=1)
    return manifest, out


def test_paper_policy_stores_the_margin(tmp_path: Path) -> None:
    _, out = _small_run(tmp_path, preprocess__resize="paper")
    assert {shape for _, _, shape in _examples(shard_files(out, "test"))} == {(76, 76, 3)}
    assert json.loads((out / SHARDS_FILE).read_text())["stored_size"] == 76


def test_raw_encoding_stores_the_exact_pixels(tmp_path: Path) -> None:
    _, out = _small_run(tmp_path, preprocess__encoding="raw")
    for record in tf.data.TFRecordDataset(shard_files(out, "test")):
        example = tf.io.parse_single_example(record, FEATURES)
        pixels = np.frombuffer(example["image"].numpy(), dtype=np.uint8).reshape(SIZE, SIZE, 3)
        expected = np.asarray(prepare_image(tmp_path / "raw" / example["key"].numpy().decode(), SIZE, "crop"))
        assert np.array_equal(pixels, expected)


def test_main_is_deterministic_and_workers_change_nothing(tmp_path: Path) -> None:
    manifest = _raw(tmp_path / "data" / "raw")
    params = _stage_inputs(tmp_path, manifest)
    main(params)
    first = tree_digests(params.paths.processed)
    main(params)
    assert tree_digests(params.paths.processed) == first  # md5-identical shards, run after run
    assert len([name for name in first if name.endswith(".tfrecord")]) >= 3
    parallel = _stage_inputs(tmp_path, manifest, preprocess__workers=2)
    main(parallel)
    assert tree_digests(parallel.paths.processed) == first


def test_adding_images_keeps_every_old_assignment(tmp_path: Path) -> None:
    raw = tmp_path / "data" / "raw"
    manifest = _raw(raw, train=30, test=2)
    params = _stage_inputs(tmp_path, manifest)
    main(params)
    before = _keys_by_split(params.paths.processed)
    for label, colour in COLOURS.items():
        for i in range(30, 45):
            Image.new("RGB", (50, 40 + i), colour).save(raw / "train" / label / f"{i}.png")
    params = _stage_inputs(tmp_path, build_manifest(find_images(raw), raw))
    main(params)
    after = _keys_by_split(params.paths.processed)
    for split, keys in before.items():
        assert keys <= after[split], split
    assert sum(map(len, after.values())) == sum(map(len, before.values())) + 30


def _paths_by_split(paths: list[str], splits: list[str]) -> dict[str, set[str]]:
    return {split: {path for path, other in zip(paths, splits, strict=True) if other == split}
            for split in ("train", "val", "test")}


def test_the_split_table_is_the_shards_split_and_the_gate_reads_it(tmp_path: Path) -> None:
    """preprocess writes each image's split once, in split_table.csv: exactly the images each
    split's shards hold. The gate's dataset table takes those splits as written, even after the
    split params changed (a split assigned again would follow the new params)."""
    manifest = _raw(tmp_path / "data" / "raw", train=10, test=0)
    params = _stage_inputs(tmp_path, manifest, preprocess__test_fraction=0.2)
    main(params)
    rows = read_rows(SplitRow, params.paths.processed / SPLIT_TABLE_FILE)
    assert [row.path for row in rows] == sorted(manifest["path"])  # every image once, by path
    assert all(row.label == row.path.split("/")[1] for row in rows)
    written = _paths_by_split([row.path for row in rows], [row.split for row in rows])
    assert written == _keys_by_split(params.paths.processed)
    assert all(written.values())  # train, val and a test carved from train: all three checked

    changed = _params(tmp_path, base__seed=99, preprocess__val_fraction=0.4,
                      preprocess__test_fraction=0.4)
    reassigned = assign_splits(manifest, 0.4, 99, 0.4).tolist()
    assert _paths_by_split(manifest["path"].tolist(), reassigned) != written  # assigned anew
    table = current_table(changed)
    assert _paths_by_split(table["path"].tolist(), table["split"].tolist()) == written
    hashes = manifest.set_index("path")["sha256"]
    assert table["sha256"].tolist() == hashes.loc[table["path"]].tolist()


def test_one_class_is_an_error(tmp_path: Path) -> None:
    manifest = _raw(tmp_path / "raw")
    one_class = manifest[manifest["label"] == "amber"]
    with pytest.raises(PipelineError, match="at least 2 are needed"):
        preprocess(one_class, tmp_path / "raw", tmp_path, _params(tmp_path).preprocess, SIZE, 0)


def test_no_test_split_gets_test_carved_from_train(tmp_path: Path) -> None:
    manifest = _raw(tmp_path / "data" / "raw", train=10, test=0)
    params = _stage_inputs(tmp_path, manifest, preprocess__test_fraction=0.2)
    main(params)
    splits = json.loads((params.paths.processed / SPLITS_FILE).read_text())
    for label in COLOURS:
        assert splits["test"][label] >= 1 and splits["val"][label] >= 1
        assert sum(splits[split][label] for split in splits) == 10
    assert shard_files(params.paths.processed, "test")


def test_a_killed_run_leaves_nothing_a_rerun_would_trust(tmp_path: Path) -> None:
    raw = tmp_path / "data" / "raw"
    for label in ("a", "b"):
        for i in range(150):
            write_image(raw / "train" / label / f"{i}.jpg", size=(300, 240), seed=i + len(label) * 1000)
    params = _stage_inputs(tmp_path, build_manifest(find_images(raw), raw), preprocess__shard_size=5)
    process = subprocess.Popen([sys.executable, "-m", "stages.preprocess", "--params",
                                str(tmp_path / "params.yaml")], cwd=REPO_ROOT, env=subprocess_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = params.paths.processed.parent
    deadline = time.monotonic() + 120
    while not list(data.glob(".processed.*/*.tfrecord")) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert list(data.glob(".processed.*/*.tfrecord")), "the run ended before it could be killed"
    assert not params.paths.processed.exists()  # nothing under the output's name
    main(params)  # the rerun starts afresh and cleans up what the killed run left
    assert sorted(p.name for p in data.iterdir()) == ["processed", "raw", "validated"]
    examples = [e for split in ("train", "val", "test") for e in _examples(shard_files(params.paths.processed, split))]
    assert len(examples) == 300


def _noise_classes(root: Path, classes: int, train: int) -> pd.DataFrame:
    """`classes` classes of `train` 8x8 noise images each (and one test image), named so that a
    listing by path gives class after class."""
    for c in range(classes):
        for split, count in (("train", train), ("test", 1)):
            for i in range(count):
                write_image(root / split / f"class{c:02d}" / f"{i:03d}.png", size=(8, 8), fmt="PNG",
                            seed=c * 1000 + i + (500 if split == "test" else 0))
    return build_manifest(find_images(root), root, workers=2)


def test_training_batches_mix_classes_as_a_uniform_shuffle_does(tmp_path: Path) -> None:
    """40 classes, 2.5x more train images than the reader's shuffle buffer: an epoch's batches of 64
    must hold as many distinct classes as a uniform shuffle's, within 3 standard deviations of
    its epoch mean (shards in path order gave 27.3 against 32.1 here: 14 standard deviations off)."""
    manifest = _noise_classes(tmp_path / "raw", classes=40, train=80)
    out = tmp_path / "processed"
    out.mkdir()
    cfg = _params(tmp_path, preprocess__shard_size=256, preprocess__encoding="raw").preprocess
    counts = preprocess(manifest, tmp_path / "raw", out, cfg, 8, seed=0)
    images = sum(counts["train"].values())
    assert images > 2.5 * SHUFFLE_BUFFER
    dataset = make_dataset(shard_files(out, "train"), ShardFormat.read(out), 64, training=True, seed=0,
                           num_examples=images)
    batches = [labels.numpy() for _, labels in dataset]
    mixing = batch_mixing(batches)
    spread = uniform_shuffle_spread(np.concatenate(batches), 64, draws=200, seed=0)
    assert mixing.mean_distinct >= mixing.uniform_mean - 3 * spread, (mixing, spread)
    assert mixing.ratio >= 0.95


def test_shard_order_follows_content_not_names(tmp_path: Path) -> None:
    """The same images under other names give shards with the same labels in the same order."""
    first = _noise_classes(tmp_path / "a", classes=6, train=10)
    renamed = tmp_path / "b"
    for row in first.itertuples():
        split, label, name = row.path.split("/")
        target = renamed / split / label / f"z{99 - int(name[:3]):03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((tmp_path / "a" / row.path).read_bytes())
    labels = []
    for root in (tmp_path / "a", renamed):
        out = root.parent / f"{root.name}-processed"
        out.mkdir()
        preprocess(build_manifest(find_images(root), root), root, out, _params(tmp_path).preprocess, 8, seed=3)
        labels.append([label for _, label, _ in _examples(shard_files(out, "train"))])
    assert labels[0] == labels[1]
    assert labels[0] != sorted(labels[0])  # classes mixed, not one after another
