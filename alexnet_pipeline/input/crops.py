"""Training crops: a batch's windows and flips drawn in one op, then one cut per image.

Batch number b of an epoch draws three int32 numbers per image, all at once, from the stateless
seed (epoch seed, b): the window's top and left (each modulo the room that axis has) and the
flip (odd: mirrored). One draw a batch instead of five small random ops an image takes the
draws from 36 to under 1 microsecond an image; what an image gets depends only on the seed, the
epoch, its batch and its place there, so a streamed, a cached and a resumed epoch crop alike.
Every stored image is a square of the same side, so the windows are known before any record is
read: a streamed JPEG is decoded in its window's rows only (libjpeg skips the others), and its
columns are sliced after decoding, because cropping columns in the decoder costs more than it
saves (docs/benchmarks.md, "Feeding a GPU").
"""

from __future__ import annotations

import tensorflow as tf


def draw_windows(seed: tf.Tensor, heights: tf.Tensor, widths: tf.Tensor, size: int,
                 flip: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(tops, lefts, flips) of the `size` x `size` training windows of a batch of images of
    `heights` x `widths`, drawn with the stateless `seed`; flips all false unless `flip`. An
    image smaller than the window is an error."""
    heights, widths = tf.cast(heights, tf.int32), tf.cast(widths, tf.int32)
    check = tf.debugging.Assert(tf.reduce_all((heights >= size) & (widths >= size)),
                                ["Need images of at least the crop size ", size, ", got heights ", heights,
                                 " and widths ", widths], summarize=10)
    with tf.control_dependencies([check]):
        count = tf.shape(heights)[0]
    numbers = tf.random.stateless_uniform(tf.stack([count, 3]), seed, minval=0, maxval=tf.int32.max,
                                          dtype=tf.int32)
    tops = numbers[:, 0] % (heights - size + 1)
    lefts = numbers[:, 1] % (widths - size + 1)
    flips = tf.equal(numbers[:, 2] % 2, 1) if flip else tf.zeros([count], tf.bool)
    return tops, lefts, flips


def cut(image: tf.Tensor, top: tf.Tensor, left: tf.Tensor, size: int, flipped: tf.Tensor) -> tf.Tensor:
    """The `size` x `size` window of one uint8 image at (top, left), mirrored when `flipped`.

    A slice, then a reverse for the mirrored ones only: a strided slice with a negative step
    would do both in one op, but TensorFlow copies such a slice a pixel at a time, five times
    slower."""
    window = tf.slice(image, tf.stack([top, left, 0]), [size, size, 3])
    return tf.ensure_shape(tf.cond(flipped, lambda: tf.reverse(window, [1]), lambda: window), (size, size, 3))


def jpeg_rows(contents: tf.Tensor, top: tf.Tensor, size: int, width: tf.Tensor) -> tf.Tensor:
    """Rows top .. top + size - 1 of a JPEG, every column, decoded without the rows around them:
    the whole image's pixels there (a test compares them at every subsampling)."""
    return tf.image.decode_and_crop_jpeg(contents, tf.stack([top, 0, size, tf.cast(width, tf.int32)]), channels=3)
