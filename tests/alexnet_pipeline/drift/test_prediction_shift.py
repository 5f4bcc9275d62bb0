"""Drift without labels: the blessed model's predicted classes (chi-square, total variation) and
top-1 confidence (Kolmogorov-Smirnov, KS distance) on new data against its own data, under the
same p-value-and-effect rule as the other tests, each flag checked at its exact boundaries; the
figures never depend on a label.

Then on real image files through real trained AlexNets (slow): darker photos are flagged, by
the tiny project's blessed model and by a model trained on the sample; a class mix shifted 3x is
flagged for each class; 20 seeded resamples of unchanged data raise no flag. The tiny project's
model (2 epochs on 32 images) predicts one class for nearly everything, so it can show no class
mix: that must-show takes the sample-trained model (about 0.9 test accuracy) and the default
`drift.sample_size` of 400 images per version (at 200, a 0.91 model flagged 10 of these 12 draws,
which is why the default is 400: docs/trust.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from alexnet_pipeline.config import load_params, params_from_dict
from alexnet_pipeline.drift.comparison import compare_versions
from alexnet_pipeline.drift.embeddings import class_probabilities, embed_files, sample_rows
from alexnet_pipeline.drift.prediction_shift import (
    confidences,
    predicted_counts,
    prediction_findings,
    prediction_shift,
)
from alexnet_pipeline.drift.statistics import categorical_shift, numeric_shift
from alexnet_pipeline.evaluation.predict import model_input
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.registry.blessed_store import read_blessed
from alexnet_pipeline.sources.sample_data import SampleSpec, write_sample
from alexnet_pipeline.training.model import build_alexnet, load_model
from tests.helpers import shipped_params_dict

LABELS = ["a", "b"]


def _up(value: float) -> float:
    return math.nextafter(value, math.inf)


def _rows(confidence: list[float], answers: list[int]) -> np.ndarray:
    """Two-class probabilities: each row gives class `answer` its `confidence` (>= 0.5)."""
    rows = np.array([[c, 1 - c] for c in confidence])
    flipped = np.asarray(answers) == 1
    rows[flipped] = rows[flipped][:, ::-1]
    return rows


# 50 a and 50 b against 75 a and 25 b (total variation 0.25); confidences 0.5..0.7475 against
# 0.625..0.8725, each in steps of 0.0025 (KS distance 0.5)
REFERENCE = _rows([0.5 + i / 400 for i in range(100)], [i % 2 for i in range(100)])
CURRENT = _rows([0.5 + i / 400 for i in range(50, 150)], [int(i % 4 == 3) for i in range(100)])


def test_predicted_classes_are_counted_for_every_class_in_the_models_order() -> None:
    probabilities = np.array([[0.1, 0.7, 0.2], [0.2, 0.3, 0.5], [0.05, 0.9, 0.05]])
    assert predicted_counts(probabilities, ["zebra", "lynx", "heron"]) == {"zebra": 0, "lynx": 2, "heron": 1}
    assert list(predicted_counts(probabilities, ["zebra", "lynx", "heron"])) == ["zebra", "lynx", "heron"]
    assert predicted_counts(np.zeros((0, 3)), ["x", "y", "z"]) == {"x": 0, "y": 0, "z": 0}
    assert confidences(probabilities).tolist() == [0.7, 0.5, 0.9]
    assert confidences(np.zeros((0, 3))).size == 0
    with pytest.raises(ValueError, match=r"class probabilities of shape \(3, 3\) do not match 2 classes"):
        predicted_counts(probabilities, ["x", "y"])


def test_both_tests_are_the_shared_statistics_of_counts_and_confidences() -> None:
    result = prediction_shift(REFERENCE, CURRENT, LABELS, 0.05, 0.1)
    classes, confidence = result["classes"], result["confidence"]
    assert result["sample_sizes"] == [100, 100]
    assert classes["reference"] == {"a": 50, "b": 50} and classes["current"] == {"a": 75, "b": 25}
    expected = categorical_shift({"a": 50, "b": 50}, {"a": 75, "b": 25}, 0.05, 0.1).as_json()
    assert {key: classes[key] for key in expected} == expected and classes["effect"] == 0.25
    expected = numeric_shift(confidences(REFERENCE), confidences(CURRENT), 0.05, 0.1).as_json()
    assert {key: confidence[key] for key in expected} == expected
    assert confidence["test"] == "kolmogorov-smirnov" and confidence["effect"] == 0.5
    assert confidence["reference"] == {"min": 0.5, "median": 0.6238, "max": 0.7475}  # 4 places
    assert confidence["current"] == {"min": 0.625, "median": 0.7488, "max": 0.8725}
    histogram = confidence["histogram"]
    assert histogram["edges"][0] == 0.5 and histogram["edges"][-1] == 0.8725 and len(histogram["edges"]) == 17
    assert sum(histogram["reference"]) == pytest.approx(1) and sum(histogram["current"]) == pytest.approx(1)
    assert classes["drifted"] and confidence["drifted"]
    assert prediction_findings(result) == [
        f"the blessed model's predicted classes shifted (total variation 0.250, p={classes['p_value']:.2g})",
        f"the blessed model's confidence shifted (KS distance 0.500, p={confidence['p_value']:.2g})"]


BOUNDARIES = [
    ("effect exactly min_effect: drift", 0.05, "effect", True),
    ("min_effect one step above the effect: none", 0.05, "above effect", False),
    ("p exactly the threshold: none", "p", 0.1, False),
    ("the threshold one step above p: drift", "above p", 0.1, True),
]


@pytest.mark.parametrize("test", ["classes", "confidence"])
@pytest.mark.parametrize(("case", "p_threshold", "min_effect", "drifted"), BOUNDARIES)
def test_each_test_flags_at_its_exact_boundaries(test: str, case: str, p_threshold, min_effect,
                                                 drifted: bool) -> None:
    """A threshold or minimum effect set at the exact (unrounded) figure the test computes."""
    exact = (categorical_shift({"a": 50, "b": 50}, {"a": 75, "b": 25}, 0.5, 0.0) if test == "classes"
             else numeric_shift(confidences(REFERENCE), confidences(CURRENT), 0.5, 0.0))
    threshold = {"p": exact.p_value, "above p": _up(exact.p_value)}.get(p_threshold, p_threshold)
    effect = {"effect": exact.effect, "above effect": _up(exact.effect)}.get(min_effect, min_effect)
    result = prediction_shift(REFERENCE, CURRENT, LABELS, threshold, effect)
    assert exact.effect == {"classes": 0.25, "confidence": 0.5}[test]
    assert result[test]["drifted"] is drifted
    finding = {"classes": "predicted classes shifted", "confidence": "confidence shifted"}[test]
    assert any(finding in line for line in prediction_findings(result)) is drifted


def test_the_same_predictions_raise_nothing() -> None:
    result = prediction_shift(REFERENCE, REFERENCE[::-1], LABELS, 0.05, 0.1)
    assert result["classes"]["effect"] == 0 and result["confidence"]["effect"] == 0
    assert not result["classes"]["drifted"] and not result["confidence"]["drifted"]
    assert prediction_findings(result) == []


def test_one_predicted_class_on_both_sides_is_no_class_test() -> None:
    """Every image predicted `a` on both sides: nothing to compare, never drift."""
    same = _rows([0.9] * 20, [0] * 20)
    result = prediction_shift(same, same[:10], LABELS, 0.05, 0.1)
    assert result["classes"]["p_value"] == 1.0 and not result["classes"]["drifted"]
    assert result["classes"]["current"] == {"a": 10, "b": 0}


def test_no_current_sample_is_no_test() -> None:
    result = prediction_shift(REFERENCE, np.zeros((0, 2)), LABELS, 0.05, 0.1)
    assert result["sample_sizes"] == [100, 0]
    assert not result["classes"]["drifted"] and not result["confidence"]["drifted"]
    assert result["confidence"]["current"] == {}


def _table(labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"path": [f"train/{label}/{i}.jpg" for i, label in enumerate(labels)], "split": "train",
                         "label": labels, "sha256": [f"h{i}" for i in range(len(labels))], "format": "JPEG",
                         "width": 64, "height": 64, "brightness": 100.0})


def _config(**changes):
    data = shipped_params_dict()
    data["drift"].update(changes)
    return params_from_dict(data).drift


def test_the_drift_report_gains_the_prediction_tests_and_their_findings_last() -> None:
    table = _table(["a"] * 50 + ["b"] * 50)
    report = compare_versions(table, table, None, None, _config(p_value=0.05), seed=0,
                              probabilities=(REFERENCE, CURRENT), labels=LABELS)
    assert report["predictions"] == prediction_shift(REFERENCE, CURRENT, LABELS, 0.05, 0.1)
    assert report["drifted"] and report["findings"] == prediction_findings(report["predictions"])
    assert len(report["findings"]) == 2
    assert compare_versions(table, table, None, None, _config(), seed=0)["predictions"] is None


def test_no_label_enters_the_prediction_tests() -> None:
    """The new table's labels (and so its class balance) changed completely: the prediction
    tests, which see only the model's probabilities, give the very same figures."""
    old = _table(["a"] * 50 + ["b"] * 50)
    new = _table(["b"] * 90 + ["a"] * 10)
    cfg = _config(p_value=0.05)
    same_labels = compare_versions(old, old, None, None, cfg, seed=0, probabilities=(REFERENCE, CURRENT),
                                   labels=LABELS)
    other_labels = compare_versions(old, new, None, None, cfg, seed=0, probabilities=(REFERENCE, CURRENT),
                                    labels=LABELS)
    assert other_labels["class_balance"]["drifted"] and not same_labels["class_balance"]["drifted"]
    assert other_labels["predictions"] == same_labels["predictions"]


# --- The must-shows, on real files through real trained models (slow) -----------------------

SHIPPED = shipped_params_dict()["drift"]  # p_value 0.001, min_effect 0.1, sample_size 400
CLASSES = ("stripes", "checks", "dots", "rings")
SHARDS = ShardFormat("jpeg", 76, 67, 95)  # as preprocess stores 67 px images with resize: paper
DARKER = 0.4  # PIL brightness factor of the darker copies
SAMPLE = SHIPPED["sample_size"]  # images per version, as the gate draws them


def _darker_copies(root: Path, paths: list[str], target: Path) -> Path:
    for path in paths:
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        with Image.open(root / path) as image:
            ImageEnhance.Brightness(image.convert("RGB")).enhance(DARKER).save(target / path, quality=90)
    return target


def _shift(reference: np.ndarray, current: np.ndarray, labels: list[str]) -> dict:
    return prediction_shift(reference, current, labels, SHIPPED["p_value"], SHIPPED["min_effect"])


@pytest.mark.slow(seconds=30)
def test_the_tiny_projects_blessed_model_flags_darker_photos(tiny_project: Path, tmp_path: Path) -> None:
    """As the gate does it: the blessed store's reference embeddings through the model's head,
    against the same sample of this data made darker, embedded by the blessed model. The model
    predicts nearly one class for everything, but its confidence moves."""
    params = load_params(tiny_project / "params.yaml")
    store = read_blessed(tiny_project / params.paths.blessed)
    model = load_model(store.model_file)
    sample = sample_rows(store.reference(), params.drift.sample_size, params.base.seed)["path"].tolist()
    raw = tiny_project / params.paths.raw
    reference = class_probabilities(model, store.embeddings())
    same = class_probabilities(model, embed_files(model, [raw / path for path in sample], *store.input_format()))
    dark = _darker_copies(raw, sample, tmp_path / "darker")
    darker = class_probabilities(model, embed_files(model, [dark / path for path in sample], *store.input_format()))
    assert len(sample) == len(reference) == 44  # the whole tiny dataset
    assert np.allclose(same, reference, atol=1e-6)  # the stored embeddings are this model's of these files
    assert prediction_findings(_shift(reference, same, store.labels)) == []
    result = _shift(reference, darker, store.labels)
    assert result["confidence"]["drifted"], result["confidence"]
    assert prediction_findings(result)


@dataclass(frozen=True)
class Trained:
    """The sample's images (path and true label, in `table` order), the trained model's class
    probabilities of each, and of a darker copy of a 400-image sample."""

    table: pd.DataFrame
    probabilities: np.ndarray
    darker_sample: list[str]
    darker: np.ndarray
    test_accuracy: float

    def rows(self, paths: list[str]) -> np.ndarray:
        index = {path: i for i, path in enumerate(self.table["path"])}
        return self.probabilities[[index[path] for path in paths]]


def _train(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The built-in sample's four textures (200 train and 50 test images per class, 64-96 px) and
    a 67 px `bn` AlexNet trained on the train images' centre crops for 8 epochs (Adam 1e-4, batch
    16, random flips), about 0.9 test accuracy: some 90 s on two cores."""
    root = tmp_path_factory.mktemp("sample")
    write_sample(SampleSpec(CLASSES, train_per_class=200, test_per_class=50, min_side=64, max_side=96, seed=1), root)
    files = sorted(root.glob("*/*/*.jpg"))
    table = pd.DataFrame({"path": [f.relative_to(root).as_posix() for f in files],
                          "label": [f.parent.name for f in files], "split": [f.parts[-3] for f in files]})
    crops = np.concatenate([np.asarray(model_input(root / path, SHARDS, "paper")) for path in table["path"]])
    answers = np.array([CLASSES.index(label) for label in table["label"]])
    train = (table["split"] == "train").to_numpy()
    keras.utils.set_random_seed(0)
    model = build_alexnet(len(CLASSES), 67, variant="bn", init="glorot", seed=3,
                          channel_mean=crops[train].mean(axis=(0, 1, 2)).tolist(),
                          channel_std=crops[train].std(axis=(0, 1, 2)).tolist())
    model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    for _ in range(8):
        images = crops[train].copy()
        flip = rng.random(len(images)) < 0.5
        images[flip] = images[flip, :, ::-1]
        model.fit(images, answers[train], batch_size=16, epochs=1, shuffle=True, verbose=0)
    probabilities = class_probabilities(model, embed_files(model, [root / path for path in table["path"]], SHARDS,
                                                           "paper"))
    accuracy = float((probabilities.argmax(axis=1) == answers)[~train].mean())
    sample = sample_rows(table, SAMPLE, 1)["path"].tolist()
    dark = _darker_copies(root, sample, tmp_path_factory.mktemp("darker"))
    darker = class_probabilities(model, embed_files(model, [dark / path for path in sample], SHARDS, "paper"))
    return Trained(table, probabilities, sample, darker, accuracy)


def _reference(trained: Trained, size: int) -> np.ndarray:
    """The blessed model's reference sample: `size` images of its own data, seed 0."""
    return trained.rows(sample_rows(trained.table, size, 0)["path"].tolist())


def _mix(table: pd.DataFrame, heavy: str, size: int, seed: int) -> list[str]:
    """`size` images drawn without replacement, class `heavy` three times as often as each other
    class (half the images; the true labels choose the images and go no further)."""
    rng = np.random.RandomState(seed)
    others = [name for name in CLASSES if name != heavy]
    counts = {heavy: size // 2, **{name: (size - size // 2) // 3 + (i < (size - size // 2) % 3)
                                   for i, name in enumerate(others)}}
    return [path for name, count in counts.items()
            for path in table[table["label"] == name].sample(n=count, random_state=rng)["path"]]


@pytest.mark.slow(seconds=130)
def test_a_trained_models_predictions_flag_darker_photos_and_a_3x_class_mix_but_no_resample(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """One test, so that the model is trained once, on one pytest-xdist worker."""
    trained = _train(tmp_path_factory)
    assert trained.test_accuracy >= 0.8, trained.test_accuracy  # good enough to tell the classes apart
    reference = _reference(trained, SAMPLE)
    for heavy in CLASSES:
        for seed in (1, 2, 3):
            drawn = _mix(trained.table, heavy, SAMPLE, seed)
            mix = trained.table.set_index("path").loc[drawn, "label"].value_counts()
            assert len(drawn) == SAMPLE and mix[heavy] == SAMPLE // 2
            assert sorted(mix.drop(heavy).tolist()) == [66, 67, 67]
            result = _shift(reference, trained.rows(drawn), list(CLASSES))  # probabilities only
            assert result["classes"]["drifted"], (heavy, seed, result["classes"])
            assert result["classes"]["current"][heavy] > result["classes"]["reference"][heavy]

    assert prediction_findings(_shift(reference, trained.rows(trained.darker_sample), list(CLASSES))) == []
    result = _shift(reference, trained.darker, list(CLASSES))
    assert result["confidence"]["drifted"], result["confidence"]

    for size in (SAMPLE // 2, SAMPLE):  # unchanged data, at half the default sample too
        reference = _reference(trained, size)
        p_values = []
        for seed in range(1, 21):
            result = _shift(reference, trained.rows(sample_rows(trained.table, size, seed)["path"].tolist()),
                            list(CLASSES))
            assert prediction_findings(result) == [], (size, seed, result["classes"], result["confidence"])
            p_values += [result["classes"]["p_value"], result["confidence"]["p_value"]]
        assert min(p_values) > SHIPPED["p_value"] and len(set(p_values)) > 2  # the resamples really differ
