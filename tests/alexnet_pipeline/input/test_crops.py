"""crops: the window stateless_random_crop would take, drawn before decoding, and JPEG windows
decoded alone with the whole image's pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.input import crops
from tests.helpers import noise_array


def _jpeg(pixels: np.ndarray, subsampling: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, subsampling=subsampling)
    return buffer.getvalue()


@pytest.mark.parametrize(("height", "width", "size"), [(12, 12, 8), (9, 14, 5), (8, 8, 8), (40, 33, 32)])
def test_the_window_is_the_one_stateless_random_crop_takes(height: int, width: int, size: int) -> None:
    image = tf.constant(noise_array(width, height, seed=height + width))
    for first in range(40):
        seed = tf.constant([first, 7 * first + 3], tf.int64)
        expected = tf.image.stateless_random_crop(image, (size, size, 3), seed)
        top, left = crops.crop_offsets(tf.constant(height, tf.int64), tf.constant(width, tf.int64), size, seed)
        assert 0 <= int(top) <= height - size and 0 <= int(left) <= width - size
        assert np.array_equal(crops.sliced(image, size)(top, left), expected)


def test_the_seeded_crop_splits_its_seed_as_the_reader_always_did() -> None:
    image = tf.constant(noise_array(12, 12, seed=1))
    for index in range(20):
        seed = tf.constant([5, index], tf.int64)
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        expected = tf.image.stateless_random_flip_left_right(
            tf.image.stateless_random_crop(image, (8, 8, 3), crop_seed), flip_seed)
        assert np.array_equal(crops.seeded_crop(crops.sliced(image, 8), 12, 12, seed, 8, flip=True), expected)


def test_an_image_smaller_than_the_crop_is_an_error() -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match="Need value.shape >= size"):
        crops.crop_offsets(tf.constant(6), tf.constant(12), 8, tf.constant([1, 2], tf.int64))


@pytest.mark.parametrize("subsampling", [0, 1, 2], ids=["4:4:4", "4:2:2", "4:2:0"])
def test_a_jpeg_window_decoded_alone_has_the_whole_images_pixels(subsampling: int) -> None:
    side, size = 37, 24
    pixels = noise_array(side, side, seed=subsampling)
    data = _jpeg(pixels, subsampling)
    whole = tf.io.decode_jpeg(data, channels=3).numpy()
    window = crops.jpeg_window(tf.constant(data), tf.constant(side, tf.int64), size)
    bare_differs = False
    for top in (0, 1, 6, side - size):
        for left in range(side - size + 1):  # both edges, odd and even offsets
            expected = whole[top:top + size, left:left + size]
            assert np.array_equal(window(tf.constant(top), tf.constant(left)), expected), (top, left)
            bare = tf.image.decode_and_crop_jpeg(data, [top, left, size, size], channels=3).numpy()
            bare_differs |= not np.array_equal(bare, expected)
    # Why the window is widened: libjpeg's cropped decoding alone differs at subsampled edges.
    assert bare_differs == (subsampling != 0)
