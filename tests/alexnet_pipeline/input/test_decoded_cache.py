"""decode_split: the train split decoded once, row by row in the shards' order, counted and checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.input.decoded_cache import decode_split
from alexnet_pipeline.input.tfrecords import ShardFormat
from tests.helpers import noise_array, write_test_shards

SHARDS = ShardFormat("raw", 10, 8)


def _shards(folder: Path, count: int, shard_size: int) -> tuple[list[str], list[np.ndarray]]:
    pixels = [noise_array(10, 10, seed=i) for i in range(count)]
    files = write_test_shards(folder, "train", [(Image.fromarray(p), 100 + i, f"train/c/{i}.png")
                                                for i, p in enumerate(pixels)], shard_size, encoding="raw")
    return files, pixels


def test_every_record_becomes_a_row_in_the_shards_order(tmp_path: Path) -> None:
    files, pixels = _shards(tmp_path, 11, shard_size=4)
    cache = decode_split(files, SHARDS, num_examples=11)
    assert cache.counts == (4, 4, 3) and cache.size == 11
    assert cache.images.shape == (11, 10, 10, 3) and cache.images.dtype == tf.uint8
    assert "CPU" in cache.images.device
    assert np.array_equal(cache.images.numpy(), np.stack(pixels))
    assert cache.labels.numpy().tolist() == [100 + i for i in range(11)]
    assert [key.decode() for key in cache.keys.numpy()] == [f"train/c/{i}.png" for i in range(11)]
    # A record is found by its shard and position: shard 2's records are rows 8, 9, 10.
    assert list(cache.rows(tf.constant(2, tf.int64)).as_numpy_iterator()) == [8, 9, 10]
    image, label, key = cache.example(tf.constant(9, tf.int64))
    assert np.array_equal(image, pixels[9]) and int(label) == 109 and key.numpy() == b"train/c/9.png"


def test_without_a_count_the_records_are_counted(tmp_path: Path) -> None:
    files, _ = _shards(tmp_path, 5, shard_size=2)
    assert decode_split(files, SHARDS).counts == (2, 2, 1)


@pytest.mark.parametrize("counted", [4, 6])
def test_a_wrong_count_is_an_error(tmp_path: Path, counted: int) -> None:
    files, _ = _shards(tmp_path, 5, shard_size=2)
    with pytest.raises(PipelineError, match=f"{counted} .*counted"):
        decode_split(files, SHARDS, num_examples=counted)


def test_a_stored_image_of_another_size_is_an_error(tmp_path: Path) -> None:
    files, _ = _shards(tmp_path, 2, shard_size=2)
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_split(files, ShardFormat("raw", 9, 8), num_examples=2)
