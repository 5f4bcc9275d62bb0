"""gate, the stage, on tiny real files: the blessed model is rescored on this run's test split (its
stored accuracy is never trusted) and compared with the candidate image by image, the same
candidate again is "already blessed" and changes nothing, other classes or another input size
skip the regression check, saying why, every decision is appended to the history, a promotion
writes the model card, and weights a rollback took out of serving are refused.

The models are 67 px AlexNets whose softmax layer always picks one class, so their test accuracy
is known exactly: the test split holds 3 images of class `a` and 1 of class `b`, so the model
that always answers `a` scores 0.75 and the one that always answers `b` 0.25.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from PIL import Image

from alexnet_pipeline.config import Params, load_params
from alexnet_pipeline.core.artifacts import LAYOUT_FILE, MANIFEST_FILE, PREDICTIONS_FILE
from alexnet_pipeline.core.contracts import EvaluationMetrics, write_contract
from alexnet_pipeline.evaluation import scoring
from alexnet_pipeline.registry.blessed_store import weights_digest
from alexnet_pipeline.sources.layout import find_images
from alexnet_pipeline.training.model import build_alexnet, load_model
from alexnet_pipeline.validation.manifest import build_manifest
from stages import gate as gate_stage
from stages import preprocess as preprocess_stage
from stages.evaluate import evaluate
from tests.helpers import shipped_params_dict, tree_digests, write_image, write_params

SIZE = 67
TEST_IMAGES = {"a": 3, "b": 1}  # the always-`a` model scores 0.75, the always-`b` one 0.25
SETTINGS = {"gate__min_accuracy": 0.0, "evaluate__ten_crop": False, "evaluate__model": "best",
            "preprocess__resize": "crop", "preprocess__val_fraction": 0.25,
            "preprocess__workers": 1, "drift__sample_size": 10, "drift__permutations": 100,
            "drift__p_value": 0.05}
SEED = shipped_params_dict()["base"]["seed"]


def _write_raw(root: Path, classes: tuple[str, str] = ("a", "b")) -> None:
    """4 train images per class and TEST_IMAGES test images, noise of varied sizes; the second
    class's images are the same whatever it is called."""
    for index, (label, name) in enumerate(zip(("a", "b"), classes, strict=True)):
        for split, count in (("train", 4), ("test", TEST_IMAGES[label])):
            for i in range(count):
                write_image(root / split / name / f"{i}.jpg", size=(70 + 5 * i, 90 - 3 * i),
                            seed=100 * index + 10 * (split == "test") + i)


def _params(root: Path, data: Path, processed: Path, size: int = SIZE, settings: dict | None = None,
            **paths: Path) -> Params:
    """Params with the data under `data`, the shards in `processed`, anything else (the blessed
    store, gate.json, drift.json) under `root`, `paths` overriding where models and metrics
    are, and `settings` changing SETTINGS."""
    overrides = {f"paths__{name}": str(path) for name, path in paths.items()}
    return load_params(write_params(root, **{**SETTINGS, **(settings or {})}, base__image_size=size,
                                    paths__raw=str(data / "raw"),
                                    paths__validated=str(data / "validated"),
                                    paths__validation_report=str(data / "validation.json"),
                                    paths__processed=str(processed), **overrides))


def _dataset(data: Path, classes: tuple[str, str] = ("a", "b")) -> None:
    """Raw images and their validated manifest under `data`."""
    _write_raw(data / "raw", classes)
    (data / "validated").mkdir(parents=True)
    manifest = build_manifest(find_images(data / "raw"), data / "raw")
    manifest.to_csv(data / "validated" / MANIFEST_FILE, index=False)
    counts = manifest.groupby(["split", "label"]).size()
    (data / "raw" / LAYOUT_FILE).write_text(json.dumps({
        "source": "local", "path": str(data / "raw"), "classes": sorted(set(manifest["label"])),
        "splits": {split: {label: int(n) for label, n in counts[split].items()} for split in ("train", "test")}}))
    (data / "validation.json").write_text(json.dumps({
        "success": True, "policies": {}, "counts": {}, "invalid": [], "duplicates": [], "leakage": [],
        "expectations": [], "class_expectations": []}))


def _preprocess(data: Path, processed: Path, size: int = SIZE) -> None:
    params = _params(processed.parent / f"{processed.name}-params", data, processed, size)
    preprocess_stage.main(params)


def _constant_model(answer: int, size: int = SIZE) -> keras.Model:
    """An AlexNet whose softmax layer ignores its input and gives class `answer` 0.99."""
    model = build_alexnet(2, size, seed=answer + size, channel_mean=[127.0] * 3,
                          channel_std=[74.0] * 3)
    layer = model.get_layer("predictions")
    kernel, _ = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), 5.0 * np.eye(2, dtype=np.float32)[answer]])
    return model


def _save_candidate(model: keras.Model, folder: Path, processed: Path, labels: list[str]
                    ) -> dict[str, Path]:
    """`model` saved as the run's scored model, its metrics on the test split of `processed` (as
    evaluate writes them) and its labels: the paths that point the gate at them."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    predictions = scoring.predict_test_split(model, processed, 64, False, SEED)
    metrics, files = evaluate(*predictions, labels, False)
    (folder / "eval").mkdir()
    (folder / "eval" / PREDICTIONS_FILE).write_text(files[PREDICTIONS_FILE])
    metrics["model"] = {"choice": "best", "path": str(folder / "model.keras"), "epoch": 1,
                        "epochs_run": 1, "best_epoch": 1, "best_loss": 0.5}
    write_contract(folder / "metrics.json", EvaluationMetrics, metrics)
    (folder / "labels.json").write_text(json.dumps(labels))
    return {"best_model": folder / "model.keras", "metrics": folder / "metrics.json",
            "labels": folder / "labels.json", "eval_plots": folder / "eval"}


def _gate(params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
    gate_stage.main(params)
    return json.loads(params.paths.gate.read_text()), json.loads(params.paths.drift.read_text())


@dataclass(frozen=True)
class World:
    data: Path  # raw and validated: classes a and b
    processed: Path  # at 67 px
    always_a: dict[str, Path]  # the candidate blessed as v1.0.0
    always_b: dict[str, Path]
    always_b_model: keras.Model
    blessed: Path  # the store after always_a was blessed: copied by each test
    first: Params  # the run that blessed it

    def params(self, root: Path, candidate: dict[str, Path], **settings: Any) -> Params:
        return _params(root, self.data, self.processed, settings=settings, **candidate)

    def blessed_copy(self, root: Path) -> Path:
        store = self.params(root, self.always_a).paths.blessed
        shutil.copytree(self.blessed, store)
        return store


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """One dataset, preprocessed; two candidates; the first gate run, which blesses always-`a`."""
    root = tmp_path_factory.mktemp("gate")
    _dataset(root / "data")
    processed = root / "processed"
    _preprocess(root / "data", processed)
    always_b_model = _constant_model(1)
    always_a = _save_candidate(_constant_model(0), root / "always_a", processed, ["a", "b"])
    always_b = _save_candidate(always_b_model, root / "always_b", processed, ["a", "b"])
    first = _params(root / "first", root / "data", processed, **always_a)
    decision, drift = _gate(first)
    assert decision["status"] == "promoted" and decision["serving_version"] == "v1.0.0"
    assert drift["reference"] is None
    # nothing blessed before: no prediction tests, an empty gallery (a note keeps its folder)
    assert drift["predictions"] is None and drift["gallery"] == []
    assert [p.name for p in first.paths.drift_gallery.iterdir()] == ["README.txt"]
    return World(root / "data", processed, always_a, always_b, always_b_model, first.paths.blessed, first)


def test_the_blessed_models_accuracy_is_rescored_not_read_from_its_version_file(
        world: World, tmp_path: Path) -> None:
    """version.json says the blessed model scored 0.1; on this test split it scores 0.75, so the
    0.25 candidate regresses and is rejected (trusting the file, it would have been promoted)."""
    store = world.blessed_copy(tmp_path)
    version = json.loads((store / "version.json").read_text())
    assert version["accuracy"] == 0.75 and version["images"] == 12
    (store / "version.json").write_text(json.dumps({**version, "accuracy": 0.1}))
    before = tree_digests(store)
    decision, drift = _gate(world.params(tmp_path, world.always_b, gate__min_accuracy=0.3))
    assert decision["status"] == "rejected" and decision["serving_version"] == "v1.0.0"
    assert decision["blessed"]["accuracy"] == 0.75 and decision["candidate"]["accuracy"] == 0.25
    assert decision["blessed"]["per_class_recall"] == {"a": 1.0, "b": 0.0}
    assert decision["blessed_note"] == ("the blessed v1.0.0 rescored on this run's test split "
                                        "(4 images)")
    assert decision["comparison"] == {
        "images": 4, "difference": -0.5, "interval": [-1.0, 0.5], "confidence": 0.95, "resamples": 10000,
        "candidate_only": 1, "blessed_only": 3, "test": "McNemar exact", "p_value": 0.625}
    # 4 test images cannot tell a 0.5 drop from chance: the regression check passes, min_accuracy 0.3 fails
    assert decision["reasons"] == ["test accuracy 0.2500 (gate.min_accuracy 0.3)"]
    assert decision["checks"][1]["passed"] and decision["checks"][1]["detail"].endswith(
        "McNemar p = 0.625): a drop within noise (p >= gate.alpha 0.05): not a regression")
    assert tree_digests(store) == before  # the blessed model stays, untouched
    assert drift["reference"]["version"] == "v1.0.0" and not drift["drifted"]  # the same data


def test_the_same_candidate_again_is_already_blessed_and_leaves_the_store_byte_identical(
        world: World, tmp_path: Path) -> None:
    """What `dvc repro -f` does: the gate runs again on the candidate it blessed. Its weights'
    digest, from the model file loaded anew, is the one the blessing stored; another model's is
    not."""
    store = world.blessed_copy(tmp_path)
    stored = json.loads((store / "version.json").read_text())["weights_sha256"]
    assert weights_digest(load_model(world.always_a["best_model"])) == stored
    assert weights_digest(world.always_b_model) != stored
    before = tree_digests(store)
    decision, _ = _gate(world.params(tmp_path, world.always_a))
    assert decision["status"] == "already blessed" and decision["promoted"] is False
    assert decision["serving_version"] == "v1.0.0" and decision["candidate"]["version"] is None
    assert decision["message"] == ("the candidate is the blessed model v1.0.0 (same weights): "
                                   "nothing to promote")
    assert tree_digests(store) == before


def test_other_classes_skip_the_regression_check_naming_both_class_lists(
        world: World, tmp_path: Path) -> None:
    """Class `b` renamed `c`: the blessed model's accuracy on this test split would be 0.75
    against the candidate's 0.25, but it answers for other classes, so no regression is measured."""
    data, processed = tmp_path / "data", tmp_path / "processed"
    _dataset(data, classes=("a", "c"))
    _preprocess(data, processed)
    candidate = _save_candidate(world.always_b_model, tmp_path / "candidate", processed, ["a", "c"])
    params = _params(tmp_path, data, processed, **candidate)
    world.blessed_copy(tmp_path)
    decision, drift = _gate(params)
    assert decision["blessed"] is None
    assert decision["blessed_note"] == (
        "the blessed v1.0.0 was trained on classes ['a', 'b'], this data has ['a', 'c']: its "
        "accuracy does not compare, so the regression check is skipped")
    assert [check["name"] for check in decision["checks"]] == ["min_accuracy"]
    assert decision["status"] == "promoted"
    assert decision["message"] == "promoted as v2.0.0, replacing v1.0.0"
    assert drift["classes"] == {"added": ["c"], "removed": ["b"]}
    version = json.loads((params.paths.blessed / "version.json").read_text())
    assert version["classes"] == ["a", "c"] and version["version"] == "v2.0.0"


def test_another_input_size_skips_the_regression_check_naming_both_sizes(
        world: World, tmp_path: Path) -> None:
    """The same images at 99 px and a 99 px candidate: the 67 px blessed model cannot be scored on
    this test split (it still embeds this run's images its own way for the drift report)."""
    processed = tmp_path / "processed"
    _preprocess(world.data, processed, size=99)
    candidate = _save_candidate(_constant_model(0, size=99), tmp_path / "candidate", processed,
                                ["a", "b"])
    params = _params(tmp_path, world.data, processed, size=99, **candidate)
    world.blessed_copy(tmp_path)
    decision, drift = _gate(params)
    assert decision["blessed"] is None
    assert decision["blessed_note"] == ("the blessed v1.0.0 takes 67px images, this run 99px: "
                                        "the regression check is skipped")
    assert [check["name"] for check in decision["checks"]] == ["min_accuracy"]
    assert decision["status"] == "promoted" and decision["candidate"]["accuracy"] == 0.75
    assert drift["embedding"]["sample_sizes"] == [10, 10] and not drift["classes"]["added"]
    assert json.loads((params.paths.blessed / "version.json").read_text())["image_size"] == 99


def test_a_promotion_writes_the_model_card_and_every_decision_joins_the_history(world: World, tmp_path: Path) -> None:
    card = json.loads((world.blessed / "model_card.json").read_text())
    assert card["version"] == "v1.0.0" and card["data"]["source"] == "local"
    assert card["data"]["counts"] == {"train": {"a": 3, "b": 3}, "val": {"a": 1, "b": 1}, "test": {"a": 3, "b": 1}}
    assert card["metrics"]["accuracy"] == 0.75 and card["metrics"]["images"] == 4
    assert card["metrics"]["per_class"]["b"]["recall"] == 0.0 and card["gate"]["comparison"] is None
    markdown = (world.blessed / "model_card.md").read_text()
    assert markdown.startswith("# Model card: alexnet v1.0.0\n") and "| b | 0.000 | 0.000 to 0.793 |" in markdown
    first = [json.loads(line) for line in world.first.paths.history.read_text().splitlines()]
    version = json.loads((world.blessed / "version.json").read_text())
    assert [(e["event"], e["outcome"], e["version"], e["serving_version"]) for e in first] == [
        ("gate", "promoted", "v1.0.0", "v1.0.0")]
    assert first[0]["data_fingerprint"] == version["data_fingerprint"] == card["data"]["data_fingerprint"]
    assert first[0]["weights_sha256"] == version["weights_sha256"] and first[0]["time"] == card["blessed_at"]

    world.blessed_copy(tmp_path)
    params = world.params(tmp_path, world.always_a)
    params.paths.history.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(world.first.paths.history, params.paths.history)
    _gate(params)
    _gate(world.params(tmp_path, world.always_b, gate__min_accuracy=0.3))
    events = [json.loads(line) for line in params.paths.history.read_text().splitlines()]
    assert [(e["outcome"], e["version"], e["serving_version"], e["accuracy"]) for e in events] == [
        ("promoted", "v1.0.0", "v1.0.0", 0.75), ("already blessed", "v1.0.0", "v1.0.0", 0.75),
        ("rejected", None, "v1.0.0", 0.25)]
    assert len({e["data_fingerprint"] for e in events}) == 1  # the same data each time


def test_weights_a_rollback_took_out_of_serving_are_refused(world: World, tmp_path: Path) -> None:
    world.blessed_copy(tmp_path)
    params = world.params(tmp_path, world.always_b)
    revoked = weights_digest(world.always_b_model)
    params.paths.history.parent.mkdir(parents=True, exist_ok=True)
    params.paths.history.write_text(json.dumps({
        "time": "2026-12-01T02:00:00+00:00", "event": "rollback", "outcome": "rolled back", "version": "v1.0.0",
        "serving_version": "v1.0.0", "data_fingerprint": None, "accuracy": 0.75, "weights_sha256": "x",
        "replaced": "v2.0.0", "replaced_weights_sha256": revoked, "message": "labels were wrong"}) + "\n")
    decision, _ = _gate(params)
    assert decision["status"] == "rejected" and decision["checks"][-1] == {
        "name": "not_rolled_back", "passed": False,
        "detail": ("the candidate has the weights of v2.0.0, rolled back to v1.0.0 at 2026-12-01T02:00:00+00:00 "
                   "(labels were wrong); train a new model to replace v1.0.0")}
    assert json.loads((params.paths.blessed / "version.json").read_text())["version"] == "v1.0.0"


def test_drift_has_the_blessed_models_predictions_and_a_gallery_of_its_sample(world: World, tmp_path: Path) -> None:
    """The blessed always-`a` model (softmax 0.9933 for `a`, whatever the image) on the same data:
    its predictions match its reference's exactly, and the 10 sampled images (fewer than 12) make
    the gallery, the farthest first, each with its thumbnail from the raw file."""
    world.blessed_copy(tmp_path)
    params = world.params(tmp_path, world.always_b, gate__min_accuracy=0.3)
    _, drift = _gate(params)
    predictions = drift["predictions"]
    assert predictions["sample_sizes"] == [10, 10]
    assert predictions["classes"]["reference"] == predictions["classes"]["current"] == {"a": 10, "b": 0}
    assert predictions["confidence"]["current"] == {"min": 0.9933, "median": 0.9933, "max": 0.9933}
    assert not predictions["classes"]["drifted"] and not predictions["confidence"]["drifted"]
    gallery = drift["gallery"]
    assert len(gallery) == 10 and {entry["predicted"] for entry in gallery} == {"a"}
    assert [entry["thumbnail"] for entry in gallery] == [f"{rank:02d}.jpg" for rank in range(1, 11)]
    assert [entry["distance"] for entry in gallery] == sorted((e["distance"] for e in gallery), reverse=True)
    assert {entry["path"] for entry in gallery} <= {path.relative_to(world.data / "raw").as_posix()
                                                     for path in (world.data / "raw").rglob("*.jpg")}
    assert sorted(p.name for p in params.paths.drift_gallery.iterdir()) == [e["thumbnail"] for e in gallery]
    for entry in gallery:
        with Image.open(params.paths.drift_gallery / entry["thumbnail"]) as thumbnail, \
                Image.open(world.data / "raw" / entry["path"]) as original:
            assert thumbnail.format == "JPEG" and thumbnail.size == original.size  # under 128 px: kept
