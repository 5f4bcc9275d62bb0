"""scoring: probabilities over batched test data (the ten crops averaged, the centre one kept),
the prediction rows of predictions.csv / misclassified.csv, and which saved model was scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.core.artifacts import SHARDS_FILE
from alexnet_pipeline.core.contracts import ShardLayout, TrainSummary, write_contract
from alexnet_pipeline.evaluation import scoring
from alexnet_pipeline.evaluation.classification import classification_metrics
from alexnet_pipeline.input.reader import center_crop, ten_crops
from tests.helpers import write_test_shards

CLASSES = ["dark", "bright", "green"]
SIZE, STORED = 8, 12


class MeanColour:
    """A stand-in classifier that answers at once: softmax of each image's mean red, green and blue
    (scaled so that colours differ clearly), refusing to be run in training mode."""

    def __call__(self, images: tf.Tensor, training: bool) -> tf.Tensor:
        assert training is False
        return tf.nn.softmax(tf.reduce_mean(tf.cast(images, tf.float32), axis=(1, 2)) / 20.0)


def _expected(images: np.ndarray) -> np.ndarray:
    return np.asarray(MeanColour()(tf.constant(images), training=False))


def _picture(seed: int) -> np.ndarray:
    """A stored square whose crops differ: noise, a bright centre and one colour per corner."""
    pixels = np.random.default_rng(seed).integers(0, 120, (STORED, STORED, 3), dtype=np.uint8)
    pixels[4:8, 4:8] = 250
    pixels[:3, :3, 0] = 255
    pixels[-3:, -3:, 1] = 255
    return pixels


def test_centre_crop_batches_are_scored_as_they_are() -> None:
    images = np.stack([_picture(seed)[2:10, 2:10] for seed in range(5)])
    dataset = tf.data.Dataset.from_tensor_slices((images, [0, 1, 2, 1, 0], [f"k{i}".encode() for i in range(5)]))
    labels, averaged, centre, keys = scoring.predict_dataset(MeanColour(), dataset.batch(2))
    assert labels.tolist() == [0, 1, 2, 1, 0]
    assert keys == ["k0", "k1", "k2", "k3", "k4"]
    np.testing.assert_allclose(averaged, _expected(images), rtol=1e-6)
    np.testing.assert_array_equal(centre, averaged)


def test_ten_crops_are_averaged_and_the_centre_one_kept() -> None:
    crops = np.stack([ten_crops(tf.constant(_picture(seed)), SIZE).numpy() for seed in range(3)])  # (3, 10, ...)
    dataset = tf.data.Dataset.from_tensor_slices((crops, [2, 0, 1], [b"a", b"b", b"c"])).batch(2)
    labels, averaged, centre, keys = scoring.predict_dataset(MeanColour(), dataset)
    assert labels.tolist() == [2, 0, 1] and keys == ["a", "b", "c"]
    each = _expected(crops.reshape(-1, SIZE, SIZE, 3)).reshape(3, 10, -1)
    np.testing.assert_allclose(averaged, each.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(centre, each[:, scoring.CENTRE], rtol=1e-6)
    centre_crops = np.stack([center_crop(tf.constant(_picture(seed)), SIZE).numpy() for seed in range(3)])
    np.testing.assert_allclose(centre, _expected(centre_crops), rtol=1e-6)  # crop 4 is the centre one
    assert np.abs(averaged - centre).max() > 0.01  # the corners change the average


@pytest.fixture
def processed(tmp_path: Path) -> Path:
    """Test shards (raw pixels, two shards) of five pictures, as preprocess leaves them."""
    folder = tmp_path / "processed"
    images = [(Image.fromarray(_picture(seed)), seed % 3, f"class{seed % 3}/{seed}.png") for seed in range(5)]
    write_test_shards(folder, "test", images, 3, encoding="raw")
    write_test_shards(folder, "train", images[:1], 3, encoding="raw")  # never scored
    write_contract(folder / SHARDS_FILE, ShardLayout, {"encoding": "raw", "resize": "paper", "image_size": SIZE,
                                                       "stored_size": STORED, "jpeg_quality": 95})
    return folder


def _seeds(keys: list[str]) -> list[int]:
    return [int(Path(key).stem) for key in keys]


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_every_test_image_once_with_its_label_and_key(processed: Path, batch_size: int) -> None:
    true, averaged, centre, keys = scoring.predict_test_split(MeanColour(), processed, batch_size, False, seed=0)
    seeds = _seeds(keys)
    assert sorted(seeds) == [0, 1, 2, 3, 4]  # the test shards only, in the reader's order
    assert keys == [f"class{seed % 3}/{seed}.png" for seed in seeds]
    assert true.tolist() == [seed % 3 for seed in seeds]
    centre_crops = np.stack([center_crop(tf.constant(_picture(seed)), SIZE).numpy() for seed in seeds])
    np.testing.assert_allclose(averaged, _expected(centre_crops), rtol=1e-6)
    np.testing.assert_array_equal(centre, averaged)


def test_the_test_split_with_ten_crops(processed: Path) -> None:
    _, plain, _, plain_keys = scoring.predict_test_split(MeanColour(), processed, 2, False, seed=0)
    true, averaged, centre, keys = scoring.predict_test_split(MeanColour(), processed, 2, True, seed=0)
    seeds = _seeds(keys)
    assert keys == plain_keys and true.tolist() == [seed % 3 for seed in seeds]
    crops = np.stack([ten_crops(tf.constant(_picture(seed)), SIZE).numpy() for seed in seeds])
    expected = _expected(crops.reshape(-1, SIZE, SIZE, 3)).reshape(5, 10, -1).mean(axis=1)
    np.testing.assert_allclose(averaged, expected, rtol=1e-6)
    np.testing.assert_allclose(centre, plain, rtol=1e-6)


def test_test_answers_are_classification_metrics_of_the_test_split(processed: Path) -> None:
    true, probabilities, _, keys = scoring.predict_test_split(MeanColour(), processed, 2, True, seed=0)
    metrics, right = scoring.test_answers(MeanColour(), processed, 2, True, 0, CLASSES)
    assert metrics == classification_metrics(true, probabilities, CLASSES)
    assert metrics["num_examples"] == 5
    assert right == {key: bool(p.argmax() == t) for key, p, t in zip(keys, probabilities, true, strict=True)}
    assert sum(right.values()) == round(metrics["accuracy"] * 5)


TRUE = np.array([0, 1, 2, 1])
PROBABILITIES = np.array([
    [0.7000004, 0.2, 0.0999996],  # dark, right
    [0.6, 0.3000004, 0.0999996],  # bright taken for dark
    [0.1, 0.8, 0.1],  # green taken for bright, surer
    [0.2, 0.6, 0.2],  # bright, right
])
KEYS = ["d/1.jpg", "b/1.jpg", "g/1.jpg", "b/2.jpg"]


def test_prediction_rows_in_test_order_rounded_to_six_places() -> None:
    rows = scoring.prediction_rows(TRUE, PROBABILITIES, KEYS, CLASSES)
    assert rows == [["d/1.jpg", "dark", "dark", 0.7, 0.7],
                    ["b/1.jpg", "bright", "dark", 0.6, 0.3],
                    ["g/1.jpg", "green", "bright", 0.8, 0.1],
                    ["b/2.jpg", "bright", "bright", 0.6, 0.6]]


def test_wrong_predictions_surest_first() -> None:
    rows = scoring.prediction_rows(TRUE, PROBABILITIES, KEYS, CLASSES, wrong_only=True)
    assert rows == [["g/1.jpg", "green", "bright", 0.8, 0.1],
                    ["b/1.jpg", "bright", "dark", 0.6, 0.3]]


def test_equally_sure_wrong_predictions_keep_the_test_order() -> None:
    true = np.array([1, 0, 1, 0, 0])
    probabilities = np.array([[0.6, 0.4]] * 2 + [[0.9, 0.1]] + [[0.4, 0.6]] * 2)  # b is right
    rows = scoring.prediction_rows(true, probabilities, ["a", "b", "c", "d", "e"], ["x", "y"], wrong_only=True)
    assert [row[0] for row in rows] == ["c", "a", "d", "e"]


def test_many_ties_keep_the_test_order() -> None:
    """40 wrong predictions sharing five probabilities: surest first, ties in test order (a sort
    that is not stable reorders ties from 17 elements on)."""
    sure = np.array([0.5, 0.6, 0.7, 0.8, 0.9] * 8)[np.random.default_rng(7).permutation(40)]
    probabilities = np.stack([sure, 1 - sure], axis=1)  # class x predicted, class y true
    keys = [f"k{i:02d}" for i in range(40)]
    rows = scoring.prediction_rows(np.ones(40, dtype=int), probabilities, keys, ["x", "y"], wrong_only=True)
    assert [row[0] for row in rows] == [keys[i] for i in sorted(range(40), key=lambda i: (-sure[i], i))]


def test_no_wrong_predictions_no_rows() -> None:
    assert scoring.prediction_rows(np.array([0]), np.array([[0.9, 0.1]]), ["a"], ["x", "y"], wrong_only=True) == []


def test_csv_text_has_a_header_and_quotes_what_needs_it() -> None:
    rows = scoring.prediction_rows(TRUE, PROBABILITIES, ["d/1,2.jpg", *KEYS[1:]], CLASSES)
    text = scoring.csv_text(scoring.PREDICTION_COLUMNS, rows[:2])
    assert text == ('path,actual,predicted,p_predicted,p_actual\n"d/1,2.jpg",dark,dark,0.7,0.7\n'
                    "b/1.jpg,bright,dark,0.6,0.3\n")
    assert scoring.csv_text(["a"], []) == "a\n"


def _summary(best_epoch: int, best_loss: float | None) -> TrainSummary:
    return TrainSummary(recipe="custom", epochs=10, epochs_run=8, resumed_from_epoch=0, stopped_early=True,
                        best_epoch=best_epoch, best_loss=best_loss, wall_time_s=1.0, images_per_s=2.0,
                        devices=["CPU:0"], replicas=1, workers=1, precision="float32", precision_reason="",
                        batch_size=8, learning_rate=0.01, optimizer="sgd", input_cache="off",
                        input_cache_reason="train.cache: off")


def test_the_best_model_is_the_best_epoch_and_the_last_the_last_one_run() -> None:
    assert scoring.scored_model("best", "models/best.keras", _summary(5, 0.25)) == {
        "choice": "best", "path": "models/best.keras", "epoch": 5, "epochs_run": 8, "best_epoch": 5,
        "best_loss": 0.25}
    assert scoring.scored_model("last", "models/last.keras", _summary(5, 0.25)) == {
        "choice": "last", "path": "models/last.keras", "epoch": 8, "epochs_run": 8, "best_epoch": 5,
        "best_loss": 0.25}


def test_without_a_finite_loss_the_best_model_is_the_last_epoch() -> None:
    assert scoring.scored_model("best", "models/best.keras", _summary(0, None)) == {
        "choice": "best", "path": "models/best.keras", "epoch": 8, "epochs_run": 8, "best_epoch": None,
        "best_loss": None}
