"""The one tf.data reader of the shards, used by train, evaluate and predict.

Streams shards (interleaved), parses and decodes in parallel, and for training augments as the
paper does: per image, a random `image_size` crop of the stored square and a horizontal flip.
Evaluation takes the centre crop. Then it batches and prefetches. Batches stay uint8 (0..255):
the model casts, adds the paper's PCA lighting in training (`lighting.PCALighting`, on the
accelerator) and normalizes its own input, so every consumer feeds it the same thing and the
host moves a quarter of the bytes of float32. Randomness is stateless and seeded per element,
so a seed gives the same batches every time (`deterministic` keeps the order too). Memory is
bounded by the shuffle buffer and prefetch, whatever the dataset size.
"""

from __future__ import annotations

import tensorflow as tf

from alexnet_pipeline.tfrecords import FEATURES, ShardFormat

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 1024


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


def _parse(record: tf.Tensor, encoding: str) -> tuple[tf.Tensor, tf.Tensor]:
    example = tf.io.parse_single_example(record, FEATURES)
    return decode(example["image"], example["height"], example["width"], encoding), example["label"]


def make_dataset(files: list[str], shards: ShardFormat, batch_size: int, *, training: bool,
                 seed: int, flip: bool = True, num_examples: int | None = None,
                 deterministic: bool = True) -> tf.data.Dataset:
    """Batches of (uint8 images, labels) from shard `files`; shuffled and cropped at random (and
    flipped, with `flip`) when `training`, centre-cropped otherwise.

    Give `num_examples` (from splits.json) so Keras knows the epoch length.
    """
    if not files:
        raise ValueError("no shard files given")
    size = shards.image_size
    options = tf.data.Options()
    options.deterministic = deterministic
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 4),
                                 num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if training:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda r: _parse(r, shards.encoding), num_parallel_calls=AUTOTUNE)
    if training:
        crop_seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
        dataset = tf.data.Dataset.zip(dataset, crop_seeds).map(
            lambda pair, s: (random_crop(pair[0], s, size, flip), pair[1]),
            num_parallel_calls=AUTOTUNE)
    else:
        dataset = dataset.map(lambda image, label: (center_crop(image, size), label),
                              num_parallel_calls=AUTOTUNE)
    if num_examples is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples))
    return dataset.batch(batch_size).prefetch(AUTOTUNE).with_options(options)
