"""The one tf.data reader of the shards, used by train, evaluate and predict.

Streams shards (interleaved), parses and decodes in parallel, and for training augments as the
paper does: per image, a random `image_size` crop of the stored square and a horizontal flip.
Evaluation takes the centre crop. Then it batches and prefetches. Batches stay uint8 (0..255):
the model casts, adds the paper's PCA lighting in training (`lighting.PCALighting`, on the
accelerator) and normalizes its own input, so every consumer feeds it the same thing and the
host moves a quarter of the bytes of float32. Training streams its epochs back to back, and an
epoch's order, crops and flips depend only on the seed and the epoch's number: with
`deterministic` (which keeps the order), a resumed run and a run across several workers see what
an uninterrupted single-machine run sees. Memory is bounded by the shuffle buffer and prefetch,
whatever the dataset size.
"""

from __future__ import annotations

import tensorflow as tf

from alexnet_pipeline.input.tfrecords import FEATURES, ShardFormat

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 1024
EPOCH_SEED_STRIDE = 1_000_003  # seed * stride + epoch: a distinct shuffle seed per (seed, epoch)


def decode(image: tf.Tensor, height: tf.Tensor, width: tf.Tensor, encoding: str) -> tf.Tensor:
    """Stored image bytes to a uint8 height x width x 3 tensor."""
    if encoding == "raw":
        return tf.reshape(tf.io.decode_raw(image, tf.uint8), tf.stack([height, width, 3]))
    return tf.io.decode_jpeg(image, channels=3)


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The central `size` x `size` square of one uint8 image (evaluation, predict)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, left = (height - size) // 2, (width - size) // 2
    cropped = image[top:top + size, left:left + size, :]
    return tf.ensure_shape(cropped, (size, size, 3))


def random_crop(image: tf.Tensor, seed: tf.Tensor, size: int, flip: bool) -> tf.Tensor:
    """A random `size` x `size` window of one uint8 image, mirrored at random when `flip`."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.image.stateless_random_crop(image, (size, size, 3), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed) if flip else image


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


def _records(files: tf.data.Dataset, count: int, deterministic: bool) -> tf.data.Dataset:
    """The records of shard `files`, up to 4 shards read at once."""
    return files.interleave(tf.data.TFRecordDataset, cycle_length=min(count, 4), num_parallel_calls=AUTOTUNE,
                            deterministic=deterministic)


def _training_epoch(files: list[str], encoding: str, size: int, seed: int, epoch: tf.Tensor, flip: bool,
                    num_examples: int | None, deterministic: bool) -> tf.data.Dataset:
    """One epoch of (cropped image, label, key), shuffled with a seed of (seed, epoch) and cropped
    with a stateless seed of (that, the element's position)."""
    epoch_seed = tf.constant(seed, tf.int64) * EPOCH_SEED_STRIDE + epoch
    records = _records(tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=epoch_seed),
                       len(files), deterministic)
    parsed = records.shuffle(SHUFFLE_BUFFER, seed=epoch_seed).map(lambda r: _parse(r, encoding),
                                                                   num_parallel_calls=AUTOTUNE)
    if num_examples is not None:
        parsed = parsed.apply(tf.data.experimental.assert_cardinality(num_examples))
    return parsed.enumerate().map(
        lambda index, example: (random_crop(example[0], tf.stack([epoch_seed, index]), size, flip), *example[1:]),
        num_parallel_calls=AUTOTUNE)


def make_dataset(files: list[str], shards: ShardFormat, batch_size: int, *, training: bool,
                 seed: int, flip: bool = True, num_examples: int | None = None,
                 deterministic: bool = True, ten_crop: bool = False, keys: bool = False,
                 epochs: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
    """Batches of (uint8 images, labels) from shard `files`; shuffled and cropped at random (and
    flipped, with `flip`) when `training`, centre-cropped otherwise, or, with `ten_crop`, the
    paper's ten crops per image (images of shape (batch, 10, size, size, 3)). With `keys`, each
    batch also carries the images' keys (their paths in the dataset).

    Training streams the epochs `range(*epochs)` (counted from 0) back to back, each ending with
    its own short batch: give the trainer `steps_per_epoch`. Give `num_examples` (from
    splits.json) so the length is known and checked.
    """
    if not files:
        raise ValueError("no shard files given")
    size = shards.image_size
    options = tf.data.Options()
    options.deterministic = deterministic

    def element(image: tf.Tensor, label: tf.Tensor, key: tf.Tensor) -> tuple[tf.Tensor, ...]:
        return (image, label, key) if keys else (image, label)

    if training:
        dataset = tf.data.Dataset.range(*epochs).flat_map(lambda epoch: _training_epoch(
            files, shards.encoding, size, seed, epoch, flip, num_examples, deterministic).map(element).batch(batch_size))
        if num_examples is not None:
            epoch_batches = steps_per_epoch(num_examples, batch_size)
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(range(*epochs)) * epoch_batches))
        return dataset.prefetch(AUTOTUNE).with_options(options)

    dataset = _records(tf.data.Dataset.from_tensor_slices(files), len(files), deterministic)
    dataset = dataset.map(lambda r: _parse(r, shards.encoding), num_parallel_calls=AUTOTUNE)
    crop = ten_crops if ten_crop else center_crop
    dataset = dataset.map(lambda image, label, key: element(crop(image, size), label, key),
                          num_parallel_calls=AUTOTUNE)
    if num_examples is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples))
    return dataset.batch(batch_size).prefetch(AUTOTUNE).with_options(options)
