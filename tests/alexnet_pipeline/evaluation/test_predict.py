"""predict_files: one result per file, errors for unreadable files, evaluation's preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from alexnet_pipeline.evaluation.predict import Prediction, expand_inputs, predict_files
from alexnet_pipeline.input.reader import center_crop, make_dataset, ten_crops
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.shards.images import encode_jpeg, prepare_image
from alexnet_pipeline.training.model import build_alexnet
from tests.helpers import write_image, write_test_shards, write_truncated_jpeg

LABELS = ["cat", "dog"]
SIZE = 67
QUALITY = 80  # not the default: predict must encode at the shards' own quality


@pytest.fixture(scope="module")
def tiny_model():
    return build_alexnet(len(LABELS), SIZE, seed=0, channel_mean=[120.0] * 3, channel_std=[60.0] * 3)


def _predict(model, files: list[Path], top_k: int = 3, encoding: str = "jpeg") -> list[Prediction]:
    shards = ShardFormat(encoding, 76, SIZE, QUALITY)  # the paper policy's stored size for 67
    return list(predict_files(model, LABELS, files, shards, "paper", top_k))


def test_good_truncated_and_text_files(tmp_path: Path, tiny_model) -> None:
    good = write_image(tmp_path / "good.jpg", size=(90, 70))
    truncated = write_truncated_jpeg(tmp_path / "truncated.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    results = _predict(tiny_model, [good, truncated, text])
    assert [r.path for r in results] == [str(good), str(truncated), str(text)]

    prediction, cut, not_image = results
    assert prediction.error is None
    # The model's own probabilities for the image as the shards store it (the paper square, JPEG
    # at the shard quality), on the centre 67 x 67 crop: the labels come most probable first.
    stored = tf.io.decode_jpeg(encode_jpeg(prepare_image(good, SIZE, "paper"), QUALITY), channels=3).numpy()
    offset = (stored.shape[0] - SIZE) // 2
    expected = np.asarray(tiny_model(stored[None, offset:offset + SIZE, offset:offset + SIZE], training=False))[0]
    assert abs(expected[0] - expected[1]) > 1e-4  # the order is not decided by rounding noise
    assert [entry["label"] for entry in prediction.top] == [LABELS[i] for i in np.argsort(-expected)]
    probs = [entry["prob"] for entry in prediction.top]
    assert probs == pytest.approx(sorted(expected.tolist(), reverse=True), abs=1e-5)
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)

    assert cut.top is None and cut.error.startswith("cannot decode image")
    assert not_image.top is None and not_image.error == "not an image: Pillow cannot identify its content"
    assert cut.as_json() == {"path": str(truncated), "error": cut.error}
    assert prediction.as_json() == {"path": str(good), "top": prediction.top}


def test_missing_file_is_an_error_not_a_crash(tmp_path: Path, tiny_model) -> None:
    [result] = _predict(tiny_model, [tmp_path / "gone.jpg"])
    assert result.error == "file not found"


def test_top_k_limits_the_list(tmp_path: Path, tiny_model) -> None:
    good = write_image(tmp_path / "good.png", size=(70, 70), fmt="PNG")
    [full] = _predict(tiny_model, [good], top_k=5)
    [one] = _predict(tiny_model, [good], top_k=1)
    assert len(full.top) == 2  # never more than the number of classes
    assert one.top == full.top[:1]


@pytest.mark.parametrize("encoding", ["jpeg", "raw"])
def test_prediction_sees_what_evaluation_sees(tmp_path: Path, tiny_model, encoding: str) -> None:
    """The same image through the shards and the reader gives the same probabilities."""
    image = write_image(tmp_path / "photo.jpg", size=(100, 80), seed=3)
    [prediction] = _predict(tiny_model, [image], encoding=encoding)
    files = write_test_shards(tmp_path / "shards", "test", [(prepare_image(image, SIZE, "paper"), 1, "x")],
                              1, encoding=encoding, jpeg_quality=QUALITY)
    [(batch, _)] = list(make_dataset(files, ShardFormat(encoding, 76, SIZE), 1, training=False, seed=0))
    expected = np.asarray(tiny_model(batch, training=False))[0]
    by_label = {entry["label"]: entry["prob"] for entry in prediction.top}
    assert by_label == pytest.approx({label: float(p) for label, p in zip(LABELS, expected)},
                                     abs=1e-5)


def test_expand_inputs_walks_folders_and_skips_hidden_files(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    for relpath in ("b.jpg", "a.jpg", "sub/c.png", ".DS_Store", "._a.jpg", "sub/Thumbs.db"):
        path = folder / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    single = tmp_path / "single.jpg"  # files are passed through as given, existing or not
    result = list(expand_inputs([str(folder), str(single)]))
    assert result == [folder / "a.jpg", folder / "b.jpg", folder / "sub" / "c.png", single]


def test_expand_inputs_of_an_empty_folder_is_empty(tmp_path: Path) -> None:
    assert list(expand_inputs([str(tmp_path)])) == []


def test_ten_crop_prediction_averages_the_papers_ten_crops(tmp_path: Path, tiny_model) -> None:
    good = write_image(tmp_path / "good.jpg", size=(120, 80), seed=5)
    shards = ShardFormat("jpeg", 76, SIZE, QUALITY)
    [prediction] = predict_files(tiny_model, LABELS, [good], shards, "paper", 2, ten_crop=True)
    stored = tf.io.decode_jpeg(encode_jpeg(prepare_image(good, SIZE, "paper"), QUALITY), channels=3)
    expected = np.asarray(tiny_model(ten_crops(stored, SIZE), training=False)).mean(axis=0)
    centre = np.asarray(tiny_model(center_crop(stored, SIZE)[None], training=False))[0]
    assert np.abs(expected - centre).max() > 1e-4  # the ten crops do change the answer
    assert {entry["label"]: entry["prob"] for entry in prediction.top} == pytest.approx(
        {label: float(p) for label, p in zip(LABELS, expected)}, abs=1e-5)


def test_an_unreadable_file_does_not_stop_the_rest(tmp_path: Path, tiny_model) -> None:
    missing, text = tmp_path / "gone.jpg", tmp_path / "notes.jpg"
    text.write_text("not an image")
    good = write_image(tmp_path / "good.jpg", size=(90, 70))
    results = _predict(tiny_model, [missing, text, good])
    assert [(r.path, r.error) for r in results] == [
        (str(missing), "file not found"), (str(text), "not an image: Pillow cannot identify its content"),
        (str(good), None)]
    assert results[2].top is not None


def test_probabilities_are_rounded_to_six_places(tmp_path: Path, tiny_model) -> None:
    good = write_image(tmp_path / "good.jpg", size=(90, 70))
    [prediction] = _predict(tiny_model, [good])
    stored = tf.io.decode_jpeg(encode_jpeg(prepare_image(good, SIZE, "paper"), QUALITY), channels=3)
    expected = np.asarray(tiny_model(center_crop(stored, SIZE)[None], training=False))[0]
    assert [entry["prob"] for entry in prediction.top] == sorted(
        (round(float(p), 6) for p in expected), reverse=True)
