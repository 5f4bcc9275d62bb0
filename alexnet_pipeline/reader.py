"""The one tf.data reader of the shards, used by train, evaluate and predict.

Streams shards (interleaved), parses and decodes in parallel, optionally flips training images
at random (stateless, seeded), batches and prefetches. Pixel values stay 0..255: the model
normalizes its own input, so every consumer feeds it the same thing.
"""

from __future__ import annotations

import tensorflow as tf

from alexnet_pipeline.tfrecords import FEATURES

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 1024


def decode_image(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded image bytes to a float32 `image_size` x `image_size` x 3 tensor of 0..255 values."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image = tf.image.resize(image, (image_size, image_size))  # no-op on preprocessed shards
    return tf.ensure_shape(tf.cast(image, tf.float32), (image_size, image_size, 3))


def _parse(record: tf.Tensor, image_size: int) -> tuple[tf.Tensor, tf.Tensor]:
    example = tf.io.parse_single_example(record, FEATURES)
    return decode_image(example["image"], image_size), example["label"]


def make_dataset(files: list[str], image_size: int, batch_size: int, *, training: bool,
                 seed: int, flip: bool = False, num_examples: int | None = None) -> tf.data.Dataset:
    """Batches of (images, labels) from shard `files`; shuffled and augmented when `training`.

    Give `num_examples` (from splits.json) so Keras knows the epoch length.
    """
    if not files:
        raise ValueError("no shard files given")
    options = tf.data.Options()
    options.deterministic = True
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 4),
                                 num_parallel_calls=AUTOTUNE, deterministic=True)
    if training:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda r: _parse(r, image_size), num_parallel_calls=AUTOTUNE)
    if training and flip:
        seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda pair, s: (tf.image.stateless_random_flip_left_right(pair[0], s), pair[1]),
            num_parallel_calls=AUTOTUNE)
    if num_examples is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples))
    return dataset.batch(batch_size).prefetch(AUTOTUNE).with_options(options)
