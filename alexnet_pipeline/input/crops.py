"""The training crop of one image: a window drawn from a stateless seed, then a seeded flip.

The window is the one `tf.image.stateless_random_crop` would cut from the whole image with the
same seed (its offset draw is replicated here, op for op), but it is drawn from the stored height
and width alone, before any pixel is decoded. So a streamed JPEG is decoded only inside its
window (`tf.image.decode_and_crop_jpeg`), a raw one is sliced, and a cached one is gathered: all
three give the crops the reader gave when it decoded every image whole.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

Window = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (top, left) -> the size x size x 3 uint8 window


def crop_offsets(height: tf.Tensor, width: tf.Tensor, size: int, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(top, left) of the `size` x `size` window that `tf.image.stateless_random_crop` picks in a
    height x width x 3 image with `seed`: three uniform int32 draws in [0, int32 max), each taken
    modulo the number of places that axis has room for (TF 2.21's random_crop_ops). The check
    that the image is large enough is the one stateless_random_crop makes."""
    shape = tf.stack([tf.cast(height, tf.int32), tf.cast(width, tf.int32), 3])
    crop = tf.constant([size, size, 3], tf.int32)
    check = tf.debugging.Assert(tf.reduce_all(shape >= crop), ["Need value.shape >= size, got ", shape, crop],
                                summarize=1000)
    with tf.control_dependencies([check]):
        limit = shape - crop + 1
    offset = tf.random.stateless_uniform([3], seed, minval=0, maxval=tf.int32.max, dtype=tf.int32) % limit
    return offset[0], offset[1]


def seeded_crop(window: Window, height: tf.Tensor, width: tf.Tensor, seed: tf.Tensor, size: int,
                flip: bool) -> tf.Tensor:
    """The `size` x `size` training crop of a height x width image that `window` reads, mirrored at
    random when `flip`: the seed splits in two, one for the window, one for the flip, as the
    reader has always split it."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    top, left = crop_offsets(height, width, size, crop_seed)
    image = tf.ensure_shape(window(top, left), (size, size, 3))
    return tf.image.stateless_random_flip_left_right(image, flip_seed) if flip else image


def sliced(image: tf.Tensor, size: int) -> Window:
    """The window reader of a decoded uint8 image: a slice."""
    return lambda top, left: image[top:top + size, left:left + size, :]


def jpeg_window(contents: tf.Tensor, width: tf.Tensor, size: int) -> Window:
    """The window reader of JPEG bytes: only the window's rows and columns are decoded.

    libjpeg's cropped decoding upsamples subsampled chroma at a window's left and right edges as
    if they were the image's edges, so the outer columns of a bare window can differ from the
    whole image's (by up to 75 levels, at 4:2:0 and 4:2:2). One column more on each side, cut off
    after decoding, gives exactly the whole image's pixels: a test compares them."""

    def window(top: tf.Tensor, left: tf.Tensor) -> tf.Tensor:
        first = tf.maximum(left - 1, 0)
        last = tf.minimum(left + size + 1, tf.cast(width, tf.int32))
        decoded = tf.image.decode_and_crop_jpeg(contents, tf.stack([top, first, size, last - first]), channels=3)
        return decoded[:, left - first:left - first + size, :]

    return window
