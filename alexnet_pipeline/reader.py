"""The one tf.data reader of the shards, used by train, evaluate and predict.

Streams shards (interleaved), parses and decodes in parallel, and for training augments as the
paper does: per image, a random `image_size` crop of the stored square and a horizontal flip (on
uint8 pixels), then, on whole batches at once, PCA lighting noise per image (multiples of the
train set's RGB principal components, `sigma` 0.1). Evaluation takes the centre crop. Then it prefetches. Randomness is stateless and seeded per
element, so a seed gives the same batches every time (`deterministic` keeps the order too).
Memory is bounded by the shuffle buffer and prefetch, whatever the dataset size. Pixel values
stay 0..255: the model normalizes its own input, so every consumer feeds it the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from alexnet_pipeline.tfrecords import FEATURES, ShardFormat

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 1024


@dataclass(frozen=True)
class Augmentation:
    """Training augmentation: random crops (when the shards keep a margin), flips, PCA lighting.
    `eigenvalues`/`eigenvectors` (columns) describe the RGB covariance of train (stats.json)."""

    flip: bool = True
    lighting_std: float = 0.0
    eigenvalues: tuple[float, ...] = (0.0, 0.0, 0.0)
    eigenvectors: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

    @classmethod
    def from_stats(cls, stats: dict, flip: bool, lighting_std: float) -> Augmentation:
        return cls(flip, lighting_std, tuple(stats["eigenvalues"]), tuple(map(tuple, stats["eigenvectors"])))


def decode(image: tf.Tensor, height: tf.Tensor, width: tf.Tensor, encoding: str) -> tf.Tensor:
    """Stored image bytes to a uint8 height x width x 3 tensor."""
    if encoding == "raw":
        return tf.reshape(tf.io.decode_raw(image, tf.uint8), tf.stack([height, width, 3]))
    return tf.io.decode_jpeg(image, channels=3)


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The central `size` x `size` square of one image, as float32 0..255 (evaluation, predict)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top, left = (height - size) // 2, (width - size) // 2
    cropped = image[top:top + size, left:left + size, :]
    return tf.ensure_shape(tf.cast(cropped, tf.float32), (size, size, 3))


def random_crop(image: tf.Tensor, seed: tf.Tensor, size: int, flip: bool) -> tf.Tensor:
    """A random `size` x `size` window of one uint8 image, mirrored at random when `flip`."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.image.stateless_random_crop(image, (size, size, 3), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed) if flip else image


def light_batch(images: tf.Tensor, seed: tf.Tensor, settings: Augmentation) -> tf.Tensor:
    """PCA lighting for a batch of uint8 crops, vectorized; float32 in 0..255.

    Each image gets its own colour shift: the principal components times alpha ~ N(0,
    lighting_std) times each component's standard deviation."""
    images = tf.cast(images, tf.float32)
    if settings.lighting_std <= 0:
        return images
    alpha = tf.random.stateless_normal([tf.shape(images)[0], 3], seed, stddev=settings.lighting_std)
    scale = alpha * tf.sqrt(tf.constant(settings.eigenvalues, tf.float32))
    shift = tf.linalg.matmul(scale, tf.constant(settings.eigenvectors, tf.float32), transpose_b=True)
    return tf.clip_by_value(images + shift[:, None, None, :], 0.0, 255.0)


def _parse(record: tf.Tensor, encoding: str) -> tuple[tf.Tensor, tf.Tensor]:
    example = tf.io.parse_single_example(record, FEATURES)
    return decode(example["image"], example["height"], example["width"], encoding), example["label"]


def make_dataset(files: list[str], shards: ShardFormat, batch_size: int, *, training: bool,
                 seed: int, augmentation: Augmentation | None = None, num_examples: int | None = None,
                 deterministic: bool = True) -> tf.data.Dataset:
    """Batches of (images, labels) from shard `files`; shuffled and augmented when `training`.

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
    settings = augmentation or Augmentation(flip=False)
    if training:
        crop_seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
        dataset = tf.data.Dataset.zip(dataset, crop_seeds).map(
            lambda pair, s: (random_crop(pair[0], s, size, settings.flip), pair[1]),
            num_parallel_calls=AUTOTUNE)
    else:
        dataset = dataset.map(lambda image, label: (center_crop(image, size), label),
                              num_parallel_calls=AUTOTUNE)
    if num_examples is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples))
    dataset = dataset.batch(batch_size)
    if training:
        batch_seeds = tf.data.Dataset.random(seed=seed + 1).batch(2, drop_remainder=True)
        dataset = tf.data.Dataset.zip(dataset, batch_seeds).map(
            lambda batch, s: (light_batch(batch[0], s, settings), batch[1]), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE).with_options(options)
