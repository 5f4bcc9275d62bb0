"""make_dataset: the one reader of the shards, deterministic for eval and seeded for training,
streamed or cropped from the decoded split (`cache`), with the same batches either way."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.input.decoded_cache import decode_split
from alexnet_pipeline.input.reader import (
    EPOCH_SEED_STRIDE,
    SHUFFLE_BUFFER,
    center_crop,
    make_dataset,
    ten_crops,
)
from alexnet_pipeline.input.tfrecords import FEATURES, ShardFormat, decode
from tests.helpers import noise_array, write_test_shards

SIDE = 8
FORMAT = ShardFormat("jpeg", SIDE, SIDE)


def _half_image() -> Image.Image:
    """Dark left half, bright right half: a horizontal flip is easy to see."""
    pixels = np.zeros((SIDE, SIDE, 3), dtype=np.uint8)
    pixels[:, SIDE // 2:] = 255
    return Image.fromarray(pixels)


def _write(folder: Path, n: int, shard_size: int, split: str = "train") -> list[str]:
    """n records whose label is their index, all of the same dark-left/bright-right image."""
    return write_test_shards(folder, split, [(_half_image(), i, f"{split}/c/{i}.jpg") for i in range(n)],
                             shard_size)


def _collect(dataset: tf.data.Dataset) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, labels = [], []
    for batch_images, batch_labels, *_ in dataset:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return images, labels


CACHE_MODES = pytest.mark.parametrize("cached", [False, True], ids=["streamed", "cached"])


def _training(files: list[str], shards: ShardFormat, batch_size: int, cached: bool, **options) -> tf.data.Dataset:
    """make_dataset's training stream, streamed or cropped from the decoded split."""
    cache = decode_split(files, shards) if cached else None
    return make_dataset(files, shards, batch_size, training=True, cache=cache, **options)


@pytest.fixture
def no_global_seed():
    """No global TensorFlow seed, before and after (the old reader's order depended on it)."""
    tf.random.set_seed(None)
    yield
    tf.random.set_seed(None)


def _flipped(images: list[np.ndarray]) -> np.ndarray:
    """Per image: is the bright half on the left?"""
    stacked = np.concatenate(images)
    return stacked[:, :, : SIDE // 2].mean(axis=(1, 2, 3)) > stacked[:, :, SIDE // 2:].mean(axis=(1, 2, 3))


def test_eval_dataset_yields_every_example_in_order(tmp_path: Path) -> None:
    files = _write(tmp_path, 7, shard_size=10)
    images, labels = _collect(make_dataset(files, FORMAT, 3, training=False, seed=0))
    assert [len(b) for b in labels] == [3, 3, 1]
    assert np.concatenate(labels).tolist() == list(range(7))
    assert images[0].shape == (3, SIDE, SIDE, 3) and images[0].dtype == np.uint8
    stacked = np.concatenate(images)
    assert stacked.min() >= 0 and stacked.max() > 200  # 0..255, not rescaled
    assert not _flipped(images).any()


def test_eval_order_over_several_shards_is_deterministic(tmp_path: Path) -> None:
    files = _write(tmp_path, 10, shard_size=3)
    assert len(files) == 4
    runs = [np.concatenate(_collect(make_dataset(files, FORMAT, 4, training=False, seed=s))[1])
            for s in (0, 0, 99)]
    assert sorted(runs[0].tolist()) == list(range(10))
    assert np.array_equal(runs[0], runs[1])
    assert np.array_equal(runs[0], runs[2])  # the seed plays no part without training


def test_eval_reads_up_to_four_shards_in_turn(tmp_path: Path) -> None:
    files = _write(tmp_path, 12, shard_size=2)  # six shards: [0, 1], [2, 3], ..., [10, 11]
    labels = np.concatenate(_collect(make_dataset(files, FORMAT, 12, training=False, seed=0))[1])
    # one record of each of the first four in turn; each spent shard's place goes to the next
    assert labels.tolist() == [0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 9, 11]


def test_centre_and_ten_crops_of_an_image_taller_than_wide_or_wider_than_tall() -> None:
    for height, width in [(11, 14), (14, 11)]:
        pixels = noise_array(width, height, seed=height)
        top, left = (height - 8) // 2, (width - 8) // 2
        assert np.array_equal(center_crop(tf.constant(pixels), 8), pixels[top:top + 8, left:left + 8])
        corners = [(0, 0), (0, width - 8), (height - 8, 0), (height - 8, width - 8), (top, left)]
        expected = [pixels[t:t + 8, l:l + 8] for t, l in corners]
        expected += [crop[:, ::-1] for crop in expected]  # the mirror images, in the same order
        assert np.array_equal(ten_crops(tf.constant(pixels), 8), np.stack(expected))


def test_eval_takes_the_centre_crop_of_a_larger_stored_square(tmp_path: Path) -> None:
    pixels = np.zeros((12, 12, 3), dtype=np.uint8)
    pixels[2:10, 2:10] = 200  # a bright 8x8 centre in a dark 2-pixel frame
    files = write_test_shards(tmp_path, "test", [(Image.fromarray(pixels), 0, "k")], 1, encoding="raw")
    [image], _ = _collect(make_dataset(files, ShardFormat("raw", 12, 8), 1, training=False, seed=0))
    assert image.shape == (1, 8, 8, 3) and (image == 200).all()


@CACHE_MODES
def test_training_with_flip_is_reproducible_with_the_same_seed(tmp_path: Path, cached: bool) -> None:
    files = _write(tmp_path, 16, shard_size=5)
    first = _collect(_training(files, FORMAT, 4, cached, seed=3, flip=True))
    second = _collect(_training(files, FORMAT, 4, cached, seed=3, flip=True))
    for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True):
        assert np.array_equal(a, b)
    labels = np.concatenate(first[1])
    assert sorted(labels.tolist()) == list(range(16))  # every example once per epoch
    assert labels.tolist() != list(range(16))  # shuffled
    flipped = _flipped(first[0])
    assert flipped.any() and not flipped.all()  # some flipped, some not


def test_training_without_flip_never_flips(tmp_path: Path) -> None:
    files = _write(tmp_path, 12, shard_size=5)
    images, labels = _collect(make_dataset(files, FORMAT, 4, training=True, seed=3, flip=False))
    assert sorted(np.concatenate(labels).tolist()) == list(range(12))
    assert not _flipped(images).any()


def test_different_seed_gives_a_different_training_order(tmp_path: Path) -> None:
    files = _write(tmp_path, 16, shard_size=5)
    one = np.concatenate(_collect(make_dataset(files, FORMAT, 4, training=True, seed=3))[1])
    other = np.concatenate(_collect(make_dataset(files, FORMAT, 4, training=True, seed=4))[1])
    assert sorted(one.tolist()) == sorted(other.tolist())
    assert one.tolist() != other.tolist()


def test_num_examples_sets_the_epoch_length(tmp_path: Path) -> None:
    files = _write(tmp_path, 10, shard_size=4)
    dataset = make_dataset(files, FORMAT, 4, training=True, seed=0, num_examples=10)
    assert int(dataset.cardinality()) == 3


def test_wrong_num_examples_fails_when_read(tmp_path: Path) -> None:
    files = _write(tmp_path, 5, shard_size=4)
    dataset = make_dataset(files, FORMAT, 4, training=False, seed=0, num_examples=8)
    with pytest.raises(tf.errors.OpError, match="8"):
        _collect(dataset)


def test_each_training_epochs_length_is_checked_when_the_streams_length_is_not(tmp_path: Path) -> None:
    """As a tf.data service worker reads it (`stream_length_checked=False`): each epoch still
    fails when it holds other than `num_examples` records."""
    files = _write(tmp_path, 5, shard_size=4)
    dataset = make_dataset(files, FORMAT, 4, training=True, seed=0, num_examples=6, stream_length_checked=False)
    with pytest.raises(tf.errors.OpError, match="expected to contain 6"):
        _collect(dataset)


def test_no_files_is_an_error() -> None:
    with pytest.raises(ValueError) as raised:
        make_dataset([], FORMAT, 4, training=False, seed=0)
    assert str(raised.value) == "no shard files given"


def test_raw_shards_give_back_the_exact_pixels(tmp_path: Path) -> None:
    originals = [noise_array(SIDE, SIDE, seed=i) for i in range(3)]
    files = write_test_shards(tmp_path, "test", [(Image.fromarray(p), i, f"k{i}") for i, p in
                                                 enumerate(originals)], 2, encoding="raw")
    images, labels = _collect(make_dataset(files, ShardFormat("raw", SIDE, SIDE), 3, training=False, seed=0))
    order = np.concatenate(labels)
    assert sorted(order.tolist()) == [0, 1, 2]  # shards interleave: compare image by label
    assert np.array_equal(np.concatenate(images), np.stack([originals[i] for i in order]))


def test_training_crops_keep_shape_and_uint8_and_land_anywhere(tmp_path: Path) -> None:
    stored = [noise_array(12, 12, seed=i) for i in range(8)]
    files = write_test_shards(tmp_path, "train", [(Image.fromarray(p), i, f"k{i}") for i, p in
                                                  enumerate(stored)], 4, encoding="raw")
    images, labels = _collect(make_dataset(files, ShardFormat("raw", 12, 8), 4, training=True, seed=1))
    batch = np.concatenate(images)
    assert batch.shape == (8, 8, 8, 3) and batch.dtype == np.uint8
    order = np.concatenate(labels)
    windows = [{p[r:r + 8, c:c + 8].tobytes() for r in range(5) for c in range(5)}
               | {p[r:r + 8, c:c + 8, :][:, ::-1].tobytes() for r in range(5) for c in range(5)} for p in stored]
    assert all(image.tobytes() in windows[label] for image, label in zip(batch, order, strict=True))
    centres = np.stack([p[2:10, 2:10] for p in stored])
    assert not np.array_equal(batch, centres[order])  # not all centre crops
    again = np.concatenate(_collect(make_dataset(files, ShardFormat("raw", 12, 8), 4, training=True, seed=1))[0])
    assert np.array_equal(batch, again)  # the same seed, the same crops


@CACHE_MODES
def test_training_epochs_stream_back_to_back_and_each_depends_only_on_its_number(tmp_path: Path,
                                                                                  cached: bool) -> None:
    stored = [noise_array(12, 12, seed=i) for i in range(10)]
    files = write_test_shards(tmp_path, "train", [(Image.fromarray(p), i, f"k{i}") for i, p in
                                                  enumerate(stored)], 4, encoding="raw")
    shards = ShardFormat("raw", 12, 8)
    both = _training(files, shards, 4, cached, seed=5, num_examples=10, epochs=(0, 2))
    assert int(both.cardinality()) == 6  # 3 batches an epoch, the last of 2 images
    images, labels = _collect(both)
    assert [len(batch) for batch in labels] == [4, 4, 2, 4, 4, 2]
    first, second = np.concatenate(labels[:3]), np.concatenate(labels[3:])
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert first.tolist() != second.tolist()  # reshuffled
    # A run resumed at epoch 1 (or another worker's pipeline) gets the same second epoch.
    resumed_images, resumed_labels = _collect(_training(files, shards, 4, cached, seed=5, epochs=(1, 2)))
    assert np.array_equal(np.concatenate(resumed_labels), second)
    assert np.array_equal(np.concatenate(resumed_images), np.concatenate(images[3:]))


def _reference_training_stream(files: list[str], shards: ShardFormat, batch_size: int, seed: int,
                               epochs: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The training stream as the docs define it, the slow way: each epoch's order as it always
    was, every image decoded whole, and batch b's crops from three uniform int32 numbers an image
    drawn with the seed (epoch seed, b): top and left modulo the room, odd flips."""
    size, batches = shards.image_size, []

    def parse(record):
        example = tf.io.parse_single_example(record, FEATURES)
        return decode(example["image"], example["height"], example["width"], shards.encoding), example["label"]

    for epoch in range(*epochs):
        epoch_seed = seed * EPOCH_SEED_STRIDE + epoch
        records = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=epoch_seed).interleave(
            tf.data.TFRecordDataset, cycle_length=min(len(files), 4), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True)
        for number, (images, labels) in enumerate(records.shuffle(SHUFFLE_BUFFER, seed=epoch_seed).map(parse)
                                                  .batch(batch_size).as_numpy_iterator()):
            draws = tf.random.stateless_uniform([len(labels), 3], tf.constant([epoch_seed, number], tf.int64),
                                                minval=0, maxval=tf.int32.max, dtype=tf.int32).numpy()
            room = images.shape[1] - size + 1
            windows = [image[top % room:top % room + size, left % room:left % room + size]
                       for image, (top, left, _) in zip(images, draws, strict=True)]
            batches.append((np.stack([w[:, ::-1] if odd % 2 else w for w, (_, _, odd) in zip(windows, draws,
                                                                                                   strict=True)]),
                            labels))
    return batches


def _noise_shards(folder: Path, count: int, side: int, encoding: str) -> list[str]:
    return write_test_shards(folder, "train", [(Image.fromarray(noise_array(side, side, seed=i)), i % 3, f"k{i}")
                                               for i in range(count)], 5, encoding=encoding)


@pytest.mark.parametrize("encoding", ["jpeg", "raw"])
@CACHE_MODES
def test_training_crops_are_the_documented_crops_of_whole_images(tmp_path: Path, encoding: str, cached: bool,
                                                                 no_global_seed: None) -> None:
    shards = ShardFormat(encoding, 15, 8)  # JPEG at 4:2:0, windows at odd and even offsets
    files = _noise_shards(tmp_path, 17, 15, encoding)
    images, labels = _collect(_training(files, shards, 4, cached, seed=11, epochs=(0, 3)))
    expected = _reference_training_stream(files, shards, 4, seed=11, epochs=(0, 3))
    assert len(images) == len(expected) == 15
    for image, label, (expected_image, expected_label) in zip(images, labels, expected, strict=True):
        assert np.array_equal(label, expected_label) and np.array_equal(image, expected_image)


@pytest.mark.parametrize("encoding", ["jpeg", "raw"])
def test_cached_and_streamed_training_give_the_same_batches(tmp_path: Path, encoding: str) -> None:
    shards = ShardFormat(encoding, 15, 8)
    files = _noise_shards(tmp_path, 23, 15, encoding)
    options = {"seed": 4, "num_examples": 23, "epochs": (0, 3), "keys": True}
    streamed = list(make_dataset(files, shards, 4, training=True, **options))
    cached = list(make_dataset(files, shards, 4, training=True, cache=decode_split(files, shards, 23), **options))
    assert len(streamed) == len(cached) == 3 * 6
    assert {key.decode() for batch in streamed[:6] for key in batch[2].numpy()} == {f"k{i}" for i in range(23)}
    for streamed_batch, cached_batch in zip(streamed, cached, strict=True):
        for a, b in zip(streamed_batch, cached_batch, strict=True):
            assert np.array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("set_global_seed", [lambda: tf.random.set_seed(0), lambda: tf.random.set_seed(12345),
                                             lambda: keras.utils.set_random_seed(0)],
                         ids=["tf-0", "tf-12345", "keras-0"])
def test_a_global_seed_changes_nothing_and_breaks_nothing(tmp_path: Path, set_global_seed, no_global_seed: None) -> None:
    files = _noise_shards(tmp_path, 12, 12, "raw")
    shards = ShardFormat("raw", 12, 8)
    unseeded = _collect(make_dataset(files, shards, 4, training=True, seed=2, epochs=(0, 2)))
    set_global_seed()
    seeded = _collect(make_dataset(files, shards, 4, training=True, seed=2, epochs=(0, 2)))
    cached = _collect(_training(files, shards, 4, True, seed=2, epochs=(0, 2)))
    for a, b, c in zip(unseeded[0] + unseeded[1], seeded[0] + seeded[1], cached[0] + cached[1], strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_a_cache_is_for_training_on_its_own_files(tmp_path: Path) -> None:
    files = _noise_shards(tmp_path, 7, 12, "raw")
    shards = ShardFormat("raw", 12, 8)
    cache = decode_split(files, shards)
    message = "a decoded cache is for training, and must hold the given shard files"
    with pytest.raises(ValueError) as raised:
        make_dataset(files, shards, 4, training=False, seed=0, cache=cache)
    assert str(raised.value) == message
    with pytest.raises(ValueError) as raised:
        make_dataset(files[:1], shards, 4, training=True, seed=0, cache=cache)
    assert str(raised.value) == message


@CACHE_MODES
def test_training_batches_are_pairs_without_keys_and_triples_with(tmp_path: Path, cached: bool) -> None:
    files = _noise_shards(tmp_path, 6, 12, "jpeg")
    shards = ShardFormat("jpeg", 12, 8)
    assert len(next(iter(_training(files, shards, 4, cached, seed=1)))) == 2
    images, labels, keys = next(iter(_training(files, shards, 4, cached, seed=1, keys=True)))
    assert images.shape == (4, 8, 8, 3) and labels.shape == keys.shape == (4,)


def test_a_given_cache_is_read_instead_of_the_shards(tmp_path: Path) -> None:
    """Training crops from the cache's pixels: with every cached image inverted, every batch is
    the streamed one inverted (the same windows and flips)."""
    files = _noise_shards(tmp_path, 9, 12, "raw")
    shards = ShardFormat("raw", 12, 8)
    cache = decode_split(files, shards)
    cache.images.assign(255 - cache.images)
    streamed = _collect(make_dataset(files, shards, 4, training=True, seed=5, epochs=(0, 2)))[0]
    from_cache = _collect(make_dataset(files, shards, 4, training=True, seed=5, epochs=(0, 2), cache=cache))[0]
    assert len(streamed) == len(from_cache) == 6
    for streamed_images, cached_images in zip(streamed, from_cache, strict=True):
        assert np.array_equal(cached_images, 255 - streamed_images)
