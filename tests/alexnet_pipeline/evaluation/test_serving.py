"""The SavedModel export: encoded image bytes in, the same classes as the .keras model out."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.evaluation.predict import predict_files
from alexnet_pipeline.evaluation.serving import export_for_serving
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.training.model import build_alexnet

LABELS = ["amber", "teal", "violet"]
SHARDS = ShardFormat("jpeg", 76, 67)  # the paper policy's stored square at 67 px


def _photo(path: Path, colour: tuple[int, int, int], size: tuple[int, int], fmt: str) -> Path:
    """A colour field with a gentle gradient and a little noise, of any size and format."""
    width, height = size
    ramp = np.linspace(-30, 30, width)[None, :, None]
    noise = np.random.default_rng(sum(colour)).normal(0, 6, (height, width, 3))
    pixels = np.clip(np.array(colour)[None, None, :] + ramp + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


@pytest.fixture(scope="module", params=[False, True], ids=["centre_crop", "ten_crop"])
def exported(tmp_path_factory: pytest.TempPathFactory, request):
    folder = tmp_path_factory.mktemp("serving")
    model = build_alexnet(3, 67, variant="bn", init="glorot", seed=3, channel_mean=[120.0] * 3,
                          channel_std=[60.0] * 3)
    export_for_serving(model, LABELS, SHARDS, "paper", folder / "saved", ten_crop=request.param)
    photos = [_photo(folder / f"{i}.{fmt.lower()}", colour, size, fmt) for i, (colour, size, fmt) in enumerate([
        ((220, 140, 40), (120, 90), "JPEG"), ((30, 160, 150), (90, 140), "PNG"), ((140, 60, 200), (200, 100), "JPEG"),
        ((230, 230, 220), (80, 80), "BMP"), ((20, 20, 30), (300, 160), "JPEG")])]
    return model, folder / "saved", photos, request.param


def test_labels_file_and_signature(exported) -> None:
    _, folder, _, _ = exported
    assert (folder / "labels.txt").read_text().splitlines() == LABELS
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    assert list(signature.structured_input_signature[1]) == ["image_bytes"]
    assert set(signature.structured_outputs) == {"probabilities", "top_labels", "top_probabilities"}


def test_serving_gives_the_same_top_1_as_the_keras_model(exported) -> None:
    model, folder, photos, ten_crop = exported
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    served = serve(image_bytes=tf.constant([p.read_bytes() for p in photos]))
    keras_top = [prediction.top for prediction in predict_files(model, LABELS, photos, SHARDS, "paper", top_k=3,
                                                                ten_crop=ten_crop)]
    served_labels = served["top_labels"].numpy()
    for row, top in enumerate(keras_top):
        assert served_labels[row][0].decode() == top[0]["label"]
        assert np.allclose(served["probabilities"].numpy()[row],
                           [next(t["prob"] for t in top if t["label"] == name) for name in LABELS], atol=0.05)
    assert np.allclose(served["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-5)
    assert served["top_probabilities"].shape == (len(photos), 3)


def test_an_undecodable_image_fails_the_request(exported) -> None:
    _, folder, photos, _ = exported
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    buffer = io.BytesIO(b"not an image")
    with pytest.raises(tf.errors.InvalidArgumentError):
        serve(image_bytes=tf.constant([photos[0].read_bytes(), buffer.getvalue()]))
