"""The serving graph's preprocessing against the shards' and predict's (Pillow), pixel by pixel.

The model here is `Flatten` (and a `Dropout`, idle at inference): its "probabilities" are the very
pixels it is given, averaged over the crops, so a request's answer shows the preprocessing itself.
Sizes divide evenly, and lossless formats stand for the shards' raw pixels: otherwise TensorFlow
and Pillow may place a `pad` border or a centre crop half a pixel to a pixel apart, and predict
decodes a JPEG at a reduced DCT scale first (docs/development/mutation.md)."""

from __future__ import annotations

import contextlib
import locale
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.evaluation.predict import model_input
from alexnet_pipeline.evaluation.serving import _stored_square, export_for_serving, serving_fn
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.shards.images import resize_square, stored_size

HEIGHT, WIDTH = 24, 36  # every policy below resizes it by a whole factor
# The network input side by policy ("classes": one a pixel value); paper stores 12 for 11.
SIZES = {"paper": 11, "crop": 12, "squash": 12, "pad": 12}


def _pixels(seed: int = 0) -> np.ndarray:
    """Noise (so that resizing without antialiasing shows) over a bright, off-centre block."""
    pixels = np.random.default_rng(seed).integers(0, 200, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    pixels[4:12, 6:30] = 255
    return pixels


def _pixel_model(size: int) -> keras.Model:
    return keras.Sequential([keras.Input((size, size, 3)), keras.layers.Flatten(),
                             keras.layers.Dropout(0.5, seed=0)])


def _labels(size: int) -> list[str]:
    return [f"p{i}" for i in range(size * size * 3)]


def _shards(policy: str, size: int | None = None) -> ShardFormat:
    size = size or SIZES[policy]
    return ShardFormat("raw", stored_size(policy, size), size)


def _serve(policy: str, ten_crop: bool, labels: list[str] | None = None):
    size = SIZES[policy]
    return serving_fn(_pixel_model(size), labels or _labels(size), _shards(policy), policy, ten_crop)


def _save(path: Path, pixels: np.ndarray, fmt: str) -> Path:
    image = Image.fromarray(pixels)
    (image.convert("L") if fmt == "L" else image).save(path, format="PNG" if fmt == "L" else fmt)
    return path


def _predicted_pixels(path: Path, policy: str, ten_crop: bool) -> np.ndarray:
    """What predict feeds the model for `path` (Pillow's resize), averaged over its crops."""
    return model_input(path, _shards(policy), policy, ten_crop).numpy().astype(float).mean(axis=0).ravel()


@pytest.mark.parametrize(("policy", "size"), [("paper", 4), ("paper", 12), ("crop", 12), ("squash", 6),
                                              ("squash", 12), ("pad", 6), ("pad", 12)])
@pytest.mark.parametrize("tall", [False, True], ids=["wide", "tall"])
def test_the_stored_square_is_the_shards_square(policy: str, size: int, tall: bool) -> None:
    """TensorFlow's antialiased bilinear resize is Pillow's to within 4 levels (without antialiasing,
    or by another policy, some pixels are off by tens)."""
    pixels = _pixels()
    if tall:
        pixels = np.ascontiguousarray(pixels.transpose(1, 0, 2))
    expected = np.asarray(resize_square(Image.fromarray(pixels), size, policy)).astype(float)
    square = _stored_square(tf.constant(pixels), size, policy)
    assert square.dtype == tf.uint8 and square.shape == (size, size, 3)
    assert np.abs(square.numpy() - expected).max() <= 4


def test_pad_borders_are_black() -> None:
    square = _stored_square(tf.constant(np.full((HEIGHT, WIDTH, 3), 255, np.uint8)), 6, "pad").numpy()
    assert square[[0, 5]].max() == 0  # 36 x 24 -> 6 x 4: a row of black above and below
    assert square[1:5].min() == 255


@pytest.mark.parametrize("policy", ["paper", "squash", "pad"])
@pytest.mark.parametrize("ten_crop", [False, True], ids=["centre_crop", "ten_crop"])
def test_a_request_is_preprocessed_as_predict_does(tmp_path: Path, policy: str, ten_crop: bool) -> None:
    path = _save(tmp_path / "photo.png", _pixels(), "PNG")
    served = _serve(policy, ten_crop)(tf.constant([path.read_bytes()]))["probabilities"].numpy()[0]
    expected = _predicted_pixels(path, policy, ten_crop)
    assert np.abs(served - expected).max() <= 4


def test_a_batch_of_formats_each_answered_as_its_own_file(tmp_path: Path) -> None:
    """JPEG, PNG, grey PNG, BMP and GIF in one request: each row is what that file alone gets, in RGB
    (the lossless ones what predict feeds the model)."""
    paths = [_save(tmp_path / f"{i}.{fmt.lower()}", _pixels(seed=i), fmt)
             for i, fmt in enumerate(["JPEG", "PNG", "L", "BMP", "GIF"])]
    serve = _serve("squash", ten_crop=False)
    served = serve(tf.constant([path.read_bytes() for path in paths]))["probabilities"].numpy()
    size = SIZES["squash"]
    assert served.shape == (5, size * size * 3)
    for row, path in zip(served, paths, strict=True):
        assert row.tolist() == serve(tf.constant([path.read_bytes()]))["probabilities"].numpy()[0].tolist()
    for row in (1, 2, 3):
        assert np.abs(served[row] - _predicted_pixels(paths[row], "squash", False)).max() <= 4
    grey = served[2].reshape(size, size, 3)
    assert (grey == grey[..., :1]).all()  # a grey image comes in as three equal channels


def test_the_model_runs_in_inference_mode(tmp_path: Path) -> None:
    """The Dropout would zero about half of the values (and double the rest) if training."""
    path = _save(tmp_path / "photo.png", _pixels(), "PNG")
    served = _serve("squash", ten_crop=False)(tf.constant([path.read_bytes()]))["probabilities"].numpy()[0]
    assert np.abs(served - _predicted_pixels(path, "squash", False)).max() <= 4


def test_top_classes_by_name_at_most_five(tmp_path: Path) -> None:
    path = _save(tmp_path / "photo.png", _pixels(), "PNG")
    served = _serve("squash", ten_crop=False)(tf.constant([path.read_bytes()] * 2))
    probabilities = served["probabilities"].numpy()
    assert served["top_labels"].shape == (2, 5) and served["top_probabilities"].shape == (2, 5)
    for row in range(2):
        order = np.argsort(-probabilities[row], kind="stable")[:5]
        assert served["top_probabilities"].numpy()[row].tolist() == probabilities[row][order].tolist()
        assert sorted(probabilities[row][[int(name.decode()[1:]) for name in served["top_labels"].numpy()[row]]]) \
            == sorted(probabilities[row][order])
    red = _save(tmp_path / "red.png", np.tile(np.array([250, 40, 120], np.uint8), (HEIGHT, WIDTH, 1)), "PNG")
    three = serving_fn(_pixel_model(1), ["red", "green", "blue"], _shards("squash", 1), "squash", False)(
        tf.constant([red.read_bytes()]))
    assert [name.decode() for name in three["top_labels"].numpy()[0]] == ["red", "blue", "green"]


@contextlib.contextmanager
def _ascii_locale() -> Iterator[None]:
    """Text files opened without an encoding are ASCII meanwhile (as under LANG=C without UTF-8 mode)."""
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)


def test_the_export_serves_the_centre_crop_by_default_under_one_signature(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Policy and crops as asked, labels.txt in UTF-8 whatever the locale, nothing printed."""
    labels = [f"é{name}" for name in _labels(SIZES["squash"])]
    path = _save(tmp_path / "photo.png", _pixels(), "PNG")
    with _ascii_locale():
        export_for_serving(_pixel_model(SIZES["squash"]), labels, _shards("squash"), "squash", tmp_path / "centre")
    export_for_serving(_pixel_model(SIZES["paper"]), _labels(SIZES["paper"]), _shards("paper"), "paper",
                       tmp_path / "ten", ten_crop=True)
    assert capsys.readouterr().out == ""
    assert (tmp_path / "centre" / "labels.txt").read_text(encoding="utf-8").splitlines() == labels
    for folder, policy, ten_crop in [("centre", "squash", False), ("ten", "paper", True)]:
        loaded = tf.saved_model.load(str(tmp_path / folder))
        assert list(loaded.signatures) == ["serving_default"]
        signature = loaded.signatures["serving_default"]
        [spec] = signature.structured_input_signature[1].values()
        assert spec.shape.as_list() == [None] and spec.dtype == tf.string
        served = signature(image_bytes=tf.constant([path.read_bytes()]))["probabilities"].numpy()[0]
        assert np.abs(served - _predicted_pixels(path, policy, ten_crop)).max() <= 4
