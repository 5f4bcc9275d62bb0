"""crops: a batch's windows drawn at once from its seed, cut and mirrored, and JPEG rows decoded
alone with the whole image's pixels."""

from __future__ import annotations

import io
import re

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


def _said(message: str) -> str:
    """The words and numbers of a failed size check, from "Need" on, without the brackets, quotes
    and byte-string marks that TensorFlow's eager and traced messages put around them."""
    tokens = re.findall(r"\.\.\.|\d+|[A-Za-z]+", message[message.index("Need"):])
    return " ".join(token for token in tokens if token != "b")


def _draw(seed: tuple[int, int], heights: list[int], widths: list[int], size: int,
          flip: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tops, lefts, flips = crops.draw_windows(tf.constant(seed, tf.int64), tf.constant(heights, tf.int64),
                                            tf.constant(widths, tf.int64), size, flip)
    return tops.numpy(), lefts.numpy(), flips.numpy()


def test_the_draws_are_three_numbers_an_image_from_the_batch_seed() -> None:
    heights, widths = [12, 9, 40, 8], [12, 14, 33, 8]
    numbers = tf.random.stateless_uniform([4, 3], tf.constant([3, 8], tf.int64), minval=0,
                                          maxval=tf.int32.max, dtype=tf.int32).numpy()
    tops, lefts, flips = _draw((3, 8), heights, widths, 8)
    assert tops.tolist() == [n % (h - 7) for n, h in zip(numbers[:, 0], heights, strict=True)]
    assert lefts.tolist() == [n % (w - 7) for n, w in zip(numbers[:, 1], widths, strict=True)]
    assert flips.tolist() == [n % 2 == 1 for n in numbers[:, 2]]
    drawn = [tops.tolist(), lefts.tolist(), flips.tolist()]
    assert [a.tolist() for a in _draw((3, 8), heights, widths, 8)] == drawn
    assert [a.tolist() for a in _draw((3, 9), heights, widths, 8)] != drawn  # another batch, other draws


@pytest.mark.parametrize(("side", "size"), [(8, 8), (9, 8), (10, 8)])  # no room, room for 2, for 3
def test_windows_reach_every_place_and_no_further(side: int, size: int) -> None:
    tops, lefts, _ = _draw((1, 2), [side] * 400, [side] * 400, size)
    assert set(tops.tolist()) == set(lefts.tolist()) == set(range(side - size + 1))


def test_about_half_are_mirrored_and_none_without_flip() -> None:
    _, _, flips = _draw((4, 0), [12] * 10_000, [12] * 10_000, 8)
    assert 0.48 < flips.mean() < 0.52  # 4 standard deviations
    assert not _draw((4, 0), [12] * 1000, [12] * 1000, 8, flip=False)[2].any()


@pytest.mark.parametrize(("height", "width"), [(7, 12), (12, 7)])
def test_an_image_smaller_than_the_crop_is_an_error(height: int, width: int) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        _draw((1, 2), [12, height], [12, width], 8)
    assert _said(raised.value.message) == ("Need images of at least the crop size 8 got heights 12 "
                                           f"{height} and widths 12 {width}")


def test_the_size_check_holds_in_a_traced_pipeline_and_names_ten_sides_at_most() -> None:
    """As the reader runs it (traced in a tf.data map, where an unused check would be pruned):
    eleven images, one too small, and the message lists the first ten sides of each axis."""
    heights, widths = [9] * 10 + [7], [9] * 11
    dataset = tf.data.Dataset.from_tensors((heights, widths)).map(
        lambda h, w: crops.draw_windows(tf.constant([1, 2], tf.int64), h, w, 8, True))
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        next(iter(dataset))
    assert _said(raised.value.message).startswith(
        "Need images of at least the crop size 8 got heights 9 9 9 9 9 9 9 9 9 9 ... and widths 9 9 9 9 9 9 9 9 9 9 ...")


@pytest.mark.parametrize("flipped", [False, True])
def test_the_cut_is_the_window_mirrored_when_flipped(flipped: bool) -> None:
    pixels = noise_array(14, 11, seed=3)  # 11 rows, 14 columns
    for top, left in [(0, 0), (3, 6), (3, 5)]:  # the last window reaches the last row and column
        window = pixels[top:top + 8, left:left + 8]
        cut = crops.cut(tf.constant(pixels), tf.constant(top), tf.constant(left), 8, tf.constant(flipped))
        assert np.array_equal(cut, window[:, ::-1] if flipped else window)


def test_jpeg_rows_of_a_grey_jpeg_are_rgb() -> None:
    buffer = io.BytesIO()
    Image.fromarray(noise_array(12, 12, seed=5)[..., 0]).save(buffer, format="JPEG")
    rows = crops.jpeg_rows(tf.constant(buffer.getvalue()), tf.constant(2), 8, tf.constant(12, tf.int64))
    grey = tf.io.decode_jpeg(buffer.getvalue()).numpy()[2:10]
    assert rows.shape == (8, 12, 3) and np.array_equal(rows, np.repeat(grey, 3, axis=2))


@pytest.mark.parametrize("subsampling", [0, 1, 2], ids=["4:4:4", "4:2:2", "4:2:0"])
def test_jpeg_rows_decoded_alone_have_the_whole_images_pixels(subsampling: int) -> None:
    side, size = 37, 24
    data = _jpeg(noise_array(side, side, seed=subsampling), subsampling)
    whole = tf.io.decode_jpeg(data, channels=3).numpy()
    for top in range(side - size + 1):  # both edges, odd and even offsets
        rows = crops.jpeg_rows(tf.constant(data), tf.constant(top), size, tf.constant(side, tf.int64))
        assert np.array_equal(rows, whole[top:top + size]), top
