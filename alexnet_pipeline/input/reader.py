"""The one tf.data reader of the shards, used by train, evaluate and predict.

Streams shards (interleaved), parses and decodes in parallel, and for training augments as the
paper does: per image, a random `image_size` crop of the stored square and a horizontal flip.
Evaluation takes the centre crop. Then it batches and prefetches. Batches stay uint8 (0..255):
the model casts, adds the paper's PCA lighting in training (`lighting.PCALighting`, on the
accelerator) and normalizes its own input, so every consumer feeds it the same thing and the
host moves a quarter of the bytes of float32.

Training streams its epochs back to back, and an epoch's order, crops and flips depend only on
the seed and the epoch's number (not on TensorFlow's global seed): with `deterministic` (which
keeps the order), a resumed run and a run across several workers see what an uninterrupted
single-machine run sees. A streamed epoch decodes only the rows of each image's crop window
(`crops`, which draws a batch's windows at once), in memory bounded by the shuffle buffer of
encoded records and the prefetch, whatever the dataset size. Given a `DecodedCache` (the split
decoded once, `decoded_cache`), an epoch orders the cache's rows as it would order the records
and crops from them: the same batches, without decoding again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from alexnet_pipeline.input import crops
from alexnet_pipeline.input.decoded_cache import DecodedCache
from alexnet_pipeline.input.tfrecords import FEATURES, ShardFormat, decode

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 1024
EPOCH_SEED_STRIDE = 1_000_003  # seed * stride + epoch: a distinct shuffle seed per (seed, epoch)


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The central `size` x `size` square of one uint8 image (evaluation, predict)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, left = (height - size) // 2, (width - size) // 2
    cropped = image[top:top + size, left:left + size, :]
    return tf.ensure_shape(cropped, (size, size, 3))


def ten_crops(image: tf.Tensor, size: int) -> tf.Tensor:
    """The paper's test-time crops of one uint8 image: the four corners and the centre, and the
    mirror image of each; shape (10, size, size, 3), the centre crop at index 4."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    tops = (0, 0, height - size, height - size, (height - size) // 2)
    lefts = (0, width - size, 0, width - size, (width - size) // 2)
    crops = tf.stack([image[top:top + size, left:left + size, :] for top, left in zip(tops, lefts, strict=True)])
    return tf.ensure_shape(tf.concat([crops, tf.reverse(crops, axis=[2])], axis=0), (10, size, size, 3))


def _parse(record: tf.Tensor, encoding: str) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    example = tf.io.parse_single_example(record, FEATURES)
    image = decode(example["image"], example["height"], example["width"], encoding)
    return image, example["label"], example["key"]


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Batches in an epoch of `images`: the last one may be short."""
    return -(-images // batch_size)


def _records(files: tf.data.Dataset, count: int, deterministic: bool,
             read: Callable[[tf.Tensor], tf.data.Dataset] = tf.data.TFRecordDataset) -> tf.data.Dataset:
    """What `read` gives for each of `count` shards (their records), up to 4 shards read at once."""
    return files.interleave(read, cycle_length=min(count, 4), num_parallel_calls=AUTOTUNE,
                            deterministic=deterministic)


def _seeded_by_the_reader_alone() -> None:
    """Make the shuffles of the epoch being traced depend on their own seeds only.

    tf.data combines an op's seed with the global seed (`tf.random.set_seed`,
    `keras.utils.set_random_seed`) that a traced function's graph copies when it is made: with
    one set, the epoch's order would depend on it, and one of 0 (or any multiple of 2**31 - 1)
    failed outright (TensorFlow then compares the tensor seed with 0 in Python). Clearing the seed
    of the function's own graph, not the global one, gives every run the order of a run without
    a global seed: the order the reader has always had."""
    if tf.inside_function():
        tf.compat.v1.get_default_graph().seed = None


def _epoch_order(shards: Sequence, read: Callable[[tf.Tensor], tf.data.Dataset], epoch_seed: tf.Tensor,
                 deterministic: bool) -> tf.data.Dataset:
    """One epoch's order: the shards shuffled with `epoch_seed`, read up to 4 at once, through a
    shuffle buffer seeded with it. `shards` name them (files, or shard numbers of a cache) and
    `read` gives a shard's elements in order (its records, or their cache rows); the order depends
    only on the seed and how many elements each shard has, so records and rows line up."""
    _seeded_by_the_reader_alone()
    files = tf.data.Dataset.from_tensor_slices(list(shards)).shuffle(len(shards), seed=epoch_seed)
    return _records(files, len(shards), deterministic, read).shuffle(SHUFFLE_BUFFER, seed=epoch_seed)


def _carried(image: tf.Tensor, label: tf.Tensor, key: tf.Tensor, keys: bool) -> tuple[tf.Tensor, ...]:
    """What each element carries into its batch: (image, label), and the key too with `keys`."""
    return (image, label, key) if keys else (image, label)


def _training_epoch(files: list[str], shards: ShardFormat, seed: int, epoch: tf.Tensor, batch_size: int,
                    flip: bool, num_examples: int | None, deterministic: bool, cache: DecodedCache | None,
                    keys: bool) -> tf.data.Dataset:
    """One epoch of batches of (cropped images, labels[, keys]), shuffled with a seed of (seed,
    epoch); each batch's windows drawn at once with a stateless seed of (that, the batch's
    number), from the records or the cache."""
    epoch_seed = tf.constant(seed, tf.int64) * EPOCH_SEED_STRIDE + epoch
    if cache is None:
        elements = _epoch_order(files, tf.data.TFRecordDataset, epoch_seed, deterministic)
    else:
        elements = _epoch_order(range(len(cache.counts)), cache.rows, epoch_seed, deterministic)
    if num_examples is not None:
        elements = elements.apply(tf.data.experimental.assert_cardinality(num_examples))
    size, stored = shards.image_size, shards.stored_size
    sides = tf.fill([batch_size], stored)  # every stored image is a square of this side

    def draw(batch_number: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return crops.draw_windows(tf.stack([epoch_seed, batch_number]), sides, sides, size, flip)

    def cut_cached(row: tf.Tensor, window: tuple[tf.Tensor, ...]) -> tuple[tf.Tensor, ...]:
        image, label, key = cache.example(row)
        top, left, flipped = window
        return _carried(crops.cut(image, top, left, size, flipped), label, key, keys)

    def cut_record(record: tf.Tensor, window: tuple[tf.Tensor, ...]) -> tuple[tf.Tensor, ...]:
        example = tf.io.parse_single_example(record, FEATURES)
        top, left, flipped = window
        if shards.encoding == "raw":
            image = decode(example["image"], example["height"], example["width"], "raw")
            image = crops.cut(image, top, left, size, flipped)
        else:
            image = crops.cut(crops.jpeg_rows(example["image"], top, size, example["width"]), 0, left, size, flipped)
        return _carried(image, example["label"], example["key"], keys)

    windows = tf.data.Dataset.counter().map(draw).unbatch()  # element i: row i % batch of batch i // batch's draw
    return tf.data.Dataset.zip(elements, windows).map(cut_record if cache is None else cut_cached,
                                                      num_parallel_calls=AUTOTUNE).batch(batch_size)


def make_dataset(files: list[str], shards: ShardFormat, batch_size: int, *, training: bool,
                 seed: int, flip: bool = True, num_examples: int | None = None,
                 deterministic: bool = True, ten_crop: bool = False, keys: bool = False,
                 epochs: tuple[int, int] = (0, 1), cache: DecodedCache | None = None,
                 stream_length_checked: bool = True) -> tf.data.Dataset:
    """Batches of (uint8 images, labels) from shard `files`; shuffled and cropped at random (and
    flipped, with `flip`) when `training`, centre-cropped otherwise, or, with `ten_crop`, the
    paper's ten crops per image (images of shape (batch, 10, size, size, 3)). With `keys`, each
    batch also carries the images' keys (their paths in the dataset).

    Training streams the epochs `range(*epochs)` (counted from 0) back to back, each ending with
    its own short batch: give the trainer `steps_per_epoch`. Give `num_examples` (from
    splits.json) so the length is known and checked: each epoch's, and the whole stream's unless
    `stream_length_checked` is false (tf.data service workers each make only some epochs, and
    `data_service.distribute` checks the stream's length instead). With `cache` (`decoded_cache.decode_split`
    of the same `files`), training crops from the decoded images instead of decoding each epoch:
    the same batches.
    """
    if not files:
        raise ValueError("no shard files given")
    if cache is not None and (not training or len(cache.counts) != len(files)):
        raise ValueError("a decoded cache is for training, and must hold the given shard files")
    size = shards.image_size
    options = tf.data.Options()
    options.deterministic = deterministic
    if training:
        dataset = tf.data.Dataset.range(*epochs).flat_map(lambda epoch: _training_epoch(
            files, shards, seed, epoch, batch_size, flip, num_examples, deterministic, cache, keys))
        if num_examples is not None and stream_length_checked:
            epoch_batches = steps_per_epoch(num_examples, batch_size)
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(range(*epochs)) * epoch_batches))
        return dataset.prefetch(AUTOTUNE).with_options(options)

    dataset = _records(tf.data.Dataset.from_tensor_slices(files), len(files), deterministic)
    dataset = dataset.map(lambda r: _parse(r, shards.encoding), num_parallel_calls=AUTOTUNE)
    crop = ten_crops if ten_crop else center_crop
    dataset = dataset.map(lambda image, label, key: _carried(crop(image, size), label, key, keys),
                          num_parallel_calls=AUTOTUNE)
    if num_examples is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples))
    return dataset.batch(batch_size).prefetch(AUTOTUNE).with_options(options)
