"""make_dataset: the one reader of the shards, deterministic for eval and seeded for training."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.images import encode_jpeg
from alexnet_pipeline.reader import decode_image, make_dataset
from alexnet_pipeline.tfrecords import serialize_example, shard_files, write_shards

SIDE = 8


def _half_image() -> Image.Image:
    """Dark left half, bright right half: a horizontal flip is easy to see."""
    pixels = np.zeros((SIDE, SIDE, 3), dtype=np.uint8)
    pixels[:, SIDE // 2:] = 255
    return Image.fromarray(pixels)


def _write(folder: Path, n: int, shard_size: int, split: str = "train") -> list[str]:
    """n records whose label is their index, all of the same dark-left/bright-right image."""
    jpeg = encode_jpeg(_half_image(), 95)
    records = (serialize_example(jpeg, i, f"{split}/c/{i}.jpg") for i in range(n))
    write_shards(records, folder, split, total=n, shard_size=shard_size)
    return shard_files(folder, split)


def _collect(dataset: tf.data.Dataset) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, labels = [], []
    for batch_images, batch_labels in dataset:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return images, labels


def _flipped(images: list[np.ndarray]) -> np.ndarray:
    """Per image: is the bright half on the left?"""
    stacked = np.concatenate(images)
    return stacked[:, :, : SIDE // 2].mean(axis=(1, 2, 3)) > stacked[:, :, SIDE // 2:].mean(axis=(1, 2, 3))


def test_eval_dataset_yields_every_example_in_order(tmp_path: Path) -> None:
    files = _write(tmp_path, 7, shard_size=10)
    images, labels = _collect(make_dataset(files, SIDE, 3, training=False, seed=0))
    assert [len(b) for b in labels] == [3, 3, 1]
    assert np.concatenate(labels).tolist() == list(range(7))
    assert images[0].shape == (3, SIDE, SIDE, 3) and images[0].dtype == np.float32
    stacked = np.concatenate(images)
    assert stacked.min() >= 0 and stacked.max() > 200  # 0..255, not rescaled
    assert not _flipped(images).any()


def test_eval_order_over_several_shards_is_deterministic(tmp_path: Path) -> None:
    files = _write(tmp_path, 10, shard_size=3)
    assert len(files) == 4
    runs = [np.concatenate(_collect(make_dataset(files, SIDE, 4, training=False, seed=s))[1])
            for s in (0, 0, 99)]
    assert sorted(runs[0].tolist()) == list(range(10))
    assert np.array_equal(runs[0], runs[1])
    assert np.array_equal(runs[0], runs[2])  # the seed plays no part without training


def test_images_are_resized_to_image_size(tmp_path: Path) -> None:
    files = _write(tmp_path, 2, shard_size=2)
    images, _ = _collect(make_dataset(files, 16, 2, training=False, seed=0))
    assert images[0].shape == (2, 16, 16, 3)


def test_training_with_flip_is_reproducible_with_the_same_seed(tmp_path: Path) -> None:
    files = _write(tmp_path, 16, shard_size=5)
    first = _collect(make_dataset(files, SIDE, 4, training=True, seed=3, flip=True))
    second = _collect(make_dataset(files, SIDE, 4, training=True, seed=3, flip=True))
    for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True):
        assert np.array_equal(a, b)
    labels = np.concatenate(first[1])
    assert sorted(labels.tolist()) == list(range(16))  # every example once per epoch
    assert labels.tolist() != list(range(16))  # shuffled
    flipped = _flipped(first[0])
    assert flipped.any() and not flipped.all()  # some flipped, some not


def test_training_without_flip_never_flips(tmp_path: Path) -> None:
    files = _write(tmp_path, 12, shard_size=5)
    images, labels = _collect(make_dataset(files, SIDE, 4, training=True, seed=3, flip=False))
    assert sorted(np.concatenate(labels).tolist()) == list(range(12))
    assert not _flipped(images).any()


def test_different_seed_gives_a_different_training_order(tmp_path: Path) -> None:
    files = _write(tmp_path, 16, shard_size=5)
    one = np.concatenate(_collect(make_dataset(files, SIDE, 4, training=True, seed=3))[1])
    other = np.concatenate(_collect(make_dataset(files, SIDE, 4, training=True, seed=4))[1])
    assert sorted(one.tolist()) == sorted(other.tolist())
    assert one.tolist() != other.tolist()


def test_num_examples_sets_the_epoch_length(tmp_path: Path) -> None:
    files = _write(tmp_path, 10, shard_size=4)
    dataset = make_dataset(files, SIDE, 4, training=True, seed=0, num_examples=10)
    assert int(dataset.cardinality()) == 3


def test_wrong_num_examples_fails_when_read(tmp_path: Path) -> None:
    files = _write(tmp_path, 5, shard_size=4)
    dataset = make_dataset(files, SIDE, 4, training=False, seed=0, num_examples=8)
    with pytest.raises(tf.errors.OpError, match="8"):
        _collect(dataset)


def test_no_files_is_an_error() -> None:
    with pytest.raises(ValueError, match="no shard files"):
        make_dataset([], SIDE, 4, training=False, seed=0)


def test_decode_image_accepts_png_and_gives_float_pixels() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 2), (10, 20, 30)).save(buffer, format="PNG")
    image = decode_image(buffer.getvalue(), 4).numpy()
    assert image.shape == (4, 4, 3) and image.dtype == np.float32
    assert np.allclose(image[0, 0], [10, 20, 30])
