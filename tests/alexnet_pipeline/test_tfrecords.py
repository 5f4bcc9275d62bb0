"""The shard format: write_shards names and fills shards; records parse back with FEATURES."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.images import encode_jpeg
from alexnet_pipeline.tfrecords import FEATURES, serialize_example, shard_files, write_shards
from tests.helpers import noise_array


def _records(n: int) -> list[tuple[bytes, int, str]]:
    return [(encode_jpeg(Image.fromarray(noise_array(8, 8, seed=i)), 90), i % 3, f"train/c{i % 3}/{i}.jpg")
            for i in range(n)]


def _read(path: Path) -> list[dict]:
    out = []
    for raw in tf.data.TFRecordDataset(str(path)):
        example = tf.io.parse_single_example(raw, FEATURES)
        out.append({"image": example["image"].numpy(), "label": int(example["label"]),
                    "key": example["key"].numpy().decode()})
    return out


@pytest.mark.parametrize(("n", "shard_size"), [(5, 2), (4, 2), (3, 10), (1, 1), (7, 3)])
def test_shard_count_and_names(tmp_path: Path, n: int, shard_size: int) -> None:
    records = [serialize_example(*r) for r in _records(n)]
    paths = write_shards(iter(records), tmp_path, "train", total=n, shard_size=shard_size)
    expected = math.ceil(n / shard_size)
    assert [p.name for p in paths] == [f"train-{i:05d}-of-{expected:05d}.tfrecord"
                                       for i in range(expected)]
    assert sorted(tmp_path.iterdir()) == paths
    sizes = [len(_read(p)) for p in paths]
    assert sum(sizes) == n
    assert all(size == shard_size for size in sizes[:-1]) and 1 <= sizes[-1] <= shard_size


def test_records_round_trip_in_order(tmp_path: Path) -> None:
    originals = _records(5)
    paths = write_shards((serialize_example(*r) for r in originals), tmp_path, "val", total=5,
                         shard_size=2)
    read = [record for path in paths for record in _read(path)]
    assert [(r["image"], r["label"], r["key"]) for r in read] == originals
    decoded = tf.io.decode_jpeg(read[0]["image"]).numpy()
    assert decoded.shape == (8, 8, 3)


def test_no_records_write_no_shards(tmp_path: Path) -> None:
    assert write_shards(iter([]), tmp_path, "test", total=0, shard_size=4) == []
    assert list(tmp_path.iterdir()) == []


def test_shard_files_lists_one_split_in_order(tmp_path: Path) -> None:
    for split, n in (("train", 5), ("val", 1), ("test", 2)):
        write_shards((serialize_example(*r) for r in _records(n)), tmp_path, split, total=n,
                     shard_size=2)
    (tmp_path / "classes.json").write_text("[]")
    (tmp_path / "training-notes.txt").write_text("")
    train = shard_files(tmp_path, "train")
    assert [Path(p).name for p in train] == [f"train-{i:05d}-of-00003.tfrecord" for i in range(3)]
    assert [Path(p).name for p in shard_files(tmp_path, "test")] == ["test-00000-of-00001.tfrecord"]
    assert shard_files(tmp_path, "nothing") == []


def test_serialized_example_has_exactly_the_three_features() -> None:
    example = tf.train.Example.FromString(serialize_example(b"\xff\xd8jpeg", 7, "test/a/1.jpg"))
    features = example.features.feature
    assert set(features) == set(FEATURES) == {"image", "label", "key"}
    assert features["image"].bytes_list.value == [b"\xff\xd8jpeg"]
    assert features["label"].int64_list.value == [7]
    assert features["key"].bytes_list.value == [b"test/a/1.jpg"]


def test_serialized_bytes_are_identical_across_processes() -> None:
    # Protobuf map fields serialize in a per-process hash order unless asked to be deterministic.
    script = ("import hashlib; from alexnet_pipeline.tfrecords import serialize_example; "
              "print(hashlib.sha256(serialize_example(b'jpeg-bytes', 3, 'train/a/1.jpg')).hexdigest())")
    digests = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout.strip()
        for _ in range(4)
    }
    assert len(digests) == 1
