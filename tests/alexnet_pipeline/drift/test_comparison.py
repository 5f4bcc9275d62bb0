"""Drift between two versions of a real (generated) image dataset: a class removed, one class 5x
larger, darker images and test images moved into train are each reported; an unchanged version
raises no alarm across 20 seeded resamples."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from alexnet_pipeline.config import DriftConfig, Params, params_from_dict
from alexnet_pipeline.core.contracts import SplitRow
from alexnet_pipeline.drift.comparison import compare_versions, cross_version_leakage, file_changes
from alexnet_pipeline.drift.dataset_table import dataset_table
from alexnet_pipeline.drift.embeddings import embed_files, sample_rows
from alexnet_pipeline.drift.statistics import mmd_shift
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.shards.splitting import assign_splits
from alexnet_pipeline.sources.layout import find_images
from alexnet_pipeline.sources.sample_data import SampleSpec, render_image, write_sample
from alexnet_pipeline.training.model import build_alexnet
from alexnet_pipeline.validation.manifest import build_manifest
from tests.helpers import shipped_params_dict

SIZE = 67
SAMPLE = 60
CLASSES = ("stripes", "checks", "dots", "rings")
MOVED = 10


@pytest.fixture(scope="module")
def params() -> Params:
    data = shipped_params_dict()
    data["base"]["image_size"] = SIZE
    return params_from_dict(data)


@pytest.fixture(scope="module")
def model():
    return build_alexnet(len(CLASSES), SIZE, variant="bn", seed=3, channel_mean=[120.0] * 3, channel_std=[60.0] * 3)


@pytest.fixture(scope="module")
def first_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("v1")
    write_sample(SampleSpec(CLASSES, train_per_class=30, test_per_class=10, min_side=64, max_side=96, seed=1), root)
    return root


def _second_version(first: Path, root: Path) -> list[str]:
    """The first version with rings removed, dots 5x larger in train, every image darker, and
    MOVED test images moved, unchanged, into train; returns the moved files' new paths."""
    shutil.copytree(first, root, dirs_exist_ok=True)
    for split in ("train", "test"):
        shutil.rmtree(root / split / "rings")
    spec = SampleSpec(("dots",), train_per_class=150, test_per_class=0, min_side=64, max_side=96, seed=2)
    for index in range(30, 150):  # 120 new dots: 150 in all, 5x the 30 of the first version
        render_image(spec, "train", "dots", index).save(root / "train" / "dots" / f"dots.{index:04d}.jpg", quality=90)
    for path in sorted(root.rglob("*.jpg")):
        with Image.open(path) as image:
            ImageEnhance.Brightness(image.convert("RGB")).enhance(0.55).save(path, quality=90)
    moved = []
    for source in sorted((first / "test").glob("*/*.jpg"))[:MOVED]:
        if source.parent.name == "rings":
            continue
        target = root / "train" / source.parent.name / f"moved.{source.name}"
        shutil.copyfile(source, target)  # byte-identical to the first version's test image
        (root / "test" / source.parent.name / source.name).unlink()
        moved.append(target.relative_to(root).as_posix())
    return moved


def _table(root: Path, params: Params) -> pd.DataFrame:
    """The version's dataset table, with the splits preprocess would write in its split table."""
    manifest = build_manifest(find_images(root), root)
    usable = manifest[manifest["ok"]]
    cfg = params.preprocess
    splits = assign_splits(usable, cfg.val_fraction, params.base.seed, cfg.test_fraction)
    rows = [SplitRow(path=path, split=split, label=label)
            for path, split, label in zip(usable["path"], splits, usable["label"], strict=True)]
    return dataset_table(usable, rows)


def _embeddings(model, root: Path, table: pd.DataFrame, params: Params, seed: int) -> np.ndarray:
    files = [root / path for path in sample_rows(table, SAMPLE, seed)["path"]]
    return embed_files(model, files, ShardFormat.of(params.preprocess, SIZE), params.preprocess.resize)


def test_each_change_of_the_second_version_is_reported(first_version: Path, tmp_path: Path, params: Params,
                                                       model) -> None:
    moved = _second_version(first_version, tmp_path / "v2")
    old, new = _table(first_version, params), _table(tmp_path / "v2", params)
    report = compare_versions(old, new, _embeddings(model, first_version, old, params, 0),
                              _embeddings(model, tmp_path / "v2", new, params, 0), params.drift, seed=0)

    assert report["drifted"]
    assert report["classes"] == {"added": [], "removed": ["rings"]}
    balance = report["class_balance"]
    assert balance["drifted"] and balance["current"]["dots"] == 5 * 30 + 10 and balance["reference"]["dots"] == 40
    brightness = report["distributions"]["brightness"]
    assert brightness["drifted"] and brightness["current"]["median"] < 0.7 * brightness["reference"]["median"]
    assert not report["distributions"]["width"]["drifted"] and not report["distributions"]["format"]["drifted"]
    assert len(moved) == MOVED
    assert report["leakage"]["count"] == len(moved)
    assert {item["path"] for item in report["leakage"]["examples"]} <= set(moved)
    files = report["files"]
    assert files["added"] == 120 + MOVED and files["removed"] == 40 + MOVED  # rings: 30 train + 10 test
    assert files["changed"] == 160 - 40 - MOVED and files["unchanged"] == 0  # every remaining file was darkened
    assert report["embedding"]["drifted"] and report["embedding"]["p_value"] < params.drift.p_value
    assert len(report["findings"]) == 5, report["findings"]  # classes, balance, brightness, leakage, embeddings


def test_an_unchanged_version_raises_no_alarm_across_20_resamples(first_version: Path, params: Params,
                                                                 model) -> None:
    table = _table(first_version, params)
    paths = sorted(table["path"])  # every image embedded once; each resample picks its rows
    embedded = embed_files(model, [first_version / path for path in paths], ShardFormat.of(params.preprocess, SIZE),
                           params.preprocess.resize)
    row = {path: index for index, path in enumerate(paths)}

    def resample(seed: int) -> np.ndarray:
        return embedded[[row[path] for path in sample_rows(table, SAMPLE, seed)["path"]]]

    reference = resample(0)
    p_values = []
    for seed in range(1, 21):  # another embedding sample and other permutations each time
        report = compare_versions(table, table, reference, resample(seed), params.drift, seed=seed)
        assert not report["drifted"], (seed, report["findings"])
        assert report["files"] == {"added": 0, "removed": 0, "changed": 0, "unchanged": 160,
                                   "examples": {"added": [], "removed": [], "changed": []}}
        assert report["class_balance"]["effect"] == 0 and report["leakage"]["count"] == 0
        p_values.append(report["embedding"]["p_value"])
    assert min(p_values) > params.drift.p_value
    assert len(set(p_values)) > 1  # the resamples really differ


# Fast checks of each comparison on small hand-made tables (no images, no model).

def _rows(prefix: str, count: int, label: str, split: str = "train", **values) -> list[dict]:
    return [{"path": f"{split}/{label}/{prefix}{i}.jpg", "split": split, "label": label,
             "sha256": f"{prefix}{label}{i}", "format": "JPEG", "width": 64, "height": 64,
             "brightness": 100.0, **values} for i in range(count)]


def _frame(*groups: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for group in groups for row in group])


def _moved_to_train(table: pd.DataFrame, prefix: str) -> pd.DataFrame:
    return table.assign(split="train", path=lambda frame: prefix + frame["path"])


def _config(**changes) -> DriftConfig:
    data = shipped_params_dict()
    data["drift"].update(changes)
    return params_from_dict(data).drift


def test_file_changes_count_and_name_added_removed_and_changed_files() -> None:
    old = _frame(_rows("o", 8, "a"))
    new = old.copy()
    new.loc[:1, "sha256"] = ["edited0", "edited1"]  # two files changed in place
    new = pd.concat([new.iloc[:6], _frame(_rows("n", 7, "a"))])  # o6, o7 removed; n0..n6 added
    assert file_changes(old, new) == {
        "added": 7, "removed": 2, "changed": 2, "unchanged": 4,
        "examples": {"added": [f"train/a/n{i}.jpg" for i in range(5)],
                     "removed": ["train/a/o6.jpg", "train/a/o7.jpg"],
                     "changed": ["train/a/o0.jpg", "train/a/o1.jpg"]}}


def test_leakage_is_new_train_content_that_was_old_test_content() -> None:
    old = _frame(_rows("t", 7, "a", split="test"), _rows("r", 2, "a"))
    old = pd.concat([old, old.iloc[[0]].assign(path="test/a/copy.jpg")])  # one content twice
    moved = _moved_to_train(old[old["split"] == "test"].iloc[:7], "train/")
    again = _frame(_rows("x", 1, "a", split="test", sha256="tat0"))  # still a test image: fine
    new = pd.concat([_frame(_rows("r", 2, "a")), moved, again])
    leakage = cross_version_leakage(old, new)
    assert leakage["count"] == 7
    assert leakage["examples"] == [{"path": f"train/test/a/t{i}.jpg",
                                    "reference_path": f"test/a/t{i}.jpg"} for i in range(5)]
    assert cross_version_leakage(new, old)["count"] == 0  # old train, new test: not leakage


def test_an_unchanged_table_has_no_finding_and_every_figure() -> None:
    table = _frame(_rows("a", 30, "a", width=70), _rows("b", 20, "b", brightness=50.0,
                                                        format="PNG"))
    report = compare_versions(table, table, None, None, _config(), seed=0)
    assert report["drifted"] is False and report["findings"] == [] and report["embedding"] is None
    assert report["classes"] == {"added": [], "removed": []}
    assert report["class_balance"] == {"test": "chi-square", "statistic": 0.0, "p_value": 1.0,
                                       "effect": 0.0, "drifted": False,
                                       "reference": {"a": 30, "b": 20},
                                       "current": {"a": 30, "b": 20}}
    width = report["distributions"]["width"]
    assert width["reference"] == width["current"] == {"min": 64.0, "median": 70.0, "max": 70.0}
    histogram = width["histogram"]
    assert histogram["edges"][0] == 64.0 and histogram["edges"][-1] == 70.0
    assert len(histogram["edges"]) == 17 and sum(histogram["reference"]) == 1.0
    assert histogram["reference"] == histogram["current"]
    assert histogram["reference"][0] == 0.4 and histogram["reference"][-1] == 0.6
    assert report["distributions"]["format"]["reference"] == {"JPEG": 30, "PNG": 20}
    assert set(report["distributions"]) == {"width", "height", "brightness", "format"}
    assert report["files"]["unchanged"] == 50 and report["leakage"] == {"count": 0, "examples": []}


def test_each_kind_of_drift_is_a_finding_in_a_fixed_order() -> None:
    """c removed, d added, b tripled, darker PNG images, the 3 old test images moved into train,
    embeddings far apart: one finding each, in the report's order."""
    old = _frame(_rows("a", 40, "a"), _rows("b", 40, "b"), _rows("c", 40, "c"),
                 _rows("t", 3, "a", split="test"))
    darker = {"brightness": 30.0, "format": "PNG"}
    moved = _moved_to_train(_frame(_rows("t", 3, "a", split="test")), "moved/")
    new = pd.concat([_frame(_rows("a", 40, "a", **darker), _rows("b", 120, "b", **darker),
                            _rows("d", 40, "d", **darker)), moved])
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(12, 4)), rng.normal(3.0, 1.0, size=(12, 4))
    cfg = _config(p_value=0.05, permutations=100)
    report = compare_versions(old, new, *embeddings, cfg, seed=1)
    balance, brightness, formats = (report["class_balance"], report["distributions"]["brightness"],
                                    report["distributions"]["format"])
    embedding = report["embedding"]
    assert embedding["sample_sizes"] == [12, 12] and embedding["test"] == "mmd"
    assert embedding["p_value"] < 0.05
    assert report["findings"] == [
        "classes changed: added ['d'], removed ['c']",
        (f"class balance shifted (total variation {balance['effect']:.3f}, "
         f"p={balance['p_value']:.2g})"),
        (f"image brightness distribution shifted (distance {brightness['effect']:.3f}, "
         f"p={brightness['p_value']:.2g})"),
        (f"image format distribution shifted (distance {formats['effect']:.3f}, "
         f"p={formats['p_value']:.2g})"),
        ("3 new train images are identical to test images of the blessed model's data (leakage "
         "across versions)"),
        f"embeddings shifted (MMD^2 {embedding['statistic']:.4g}, p={embedding['p_value']:.2g})"]
    assert report["drifted"] is True
    assert balance["reference"] == {"a": 43, "b": 40, "c": 40}
    assert balance["current"] == {"a": 43, "b": 120, "d": 40}
    shares = abs(43 / 123 - 43 / 203) + abs(40 / 123 - 120 / 203) + 40 / 123 + 40 / 203
    assert balance["effect"] == pytest.approx(0.5 * shares, abs=1e-6)
    assert brightness["effect"] == pytest.approx(200 / 203, abs=1e-6)
    assert brightness["reference"] == {"min": 100.0, "median": 100.0, "max": 100.0}
    assert brightness["current"] == {"min": 30.0, "median": 30.0, "max": 100.0}
    assert formats["reference"] == {"JPEG": 123} and formats["current"] == {"JPEG": 3, "PNG": 200}
    without_c = old[old["label"] != "c"]
    strict = _config(min_effect=1.0)
    removed = compare_versions(old, without_c, None, None, strict, seed=0)
    assert removed["findings"] == ["classes changed: added none, removed ['c']"]
    added = compare_versions(without_c, old, None, None, strict, seed=0)
    assert added["findings"] == ["classes changed: added ['c'], removed none"]


def test_missing_figures_give_empty_summaries_and_histograms() -> None:
    """Missing figures: NaN in a table read back from CSV, pd.NA in a manifest's nullable sizes."""
    old = _frame(_rows("a", 5, "a", brightness=None))
    report = compare_versions(old, old, None, None, _config(), seed=0)  # brightness unknown (NaN)
    brightness = report["distributions"]["brightness"]
    assert brightness["reference"] == {} and brightness["current"] == {}
    assert brightness["histogram"] == {"edges": [], "reference": [], "current": []}
    assert brightness["p_value"] == 1.0 and not brightness["drifted"]
    sizes = old.assign(width=pd.array([64, None, 70, 70, 70], dtype="Int64"))  # as build_manifest
    width = compare_versions(sizes, old, None, None, _config(), seed=0)["distributions"]["width"]
    assert width["reference"] == {"min": 64.0, "median": 70.0, "max": 70.0}
    known = old.assign(brightness=[1.0, 2.0, 3.0, 4.0, 5.0])
    histogram = compare_versions(known, old, None, None, _config(),
                                 seed=0)["distributions"]["brightness"]["histogram"]
    assert histogram["current"] == [0.0] * 16 and sum(histogram["reference"]) == 1.0
    assert histogram["reference"][0] == 0.2
    assert histogram["edges"] == [round(1 + i * 0.25, 3) for i in range(17)]


def test_figures_are_summarised_and_binned_from_their_numbers_only() -> None:
    """Brightness 0, 0.5 and 1 (and a text left out) against one image at 0.25: summaries at 3
    decimals, 16 shared bins (edges at 3 decimals), each side's shares (4 decimals) summing to 1."""
    old = _frame(_rows("a", 4, "a")).assign(brightness=[0.0, 0.5, "unreadable", 1.0])
    new = _frame(_rows("a", 1, "a", brightness=0.25))
    report = compare_versions(old, new, None, None, _config(), seed=0)
    brightness = report["distributions"]["brightness"]
    assert brightness["reference"] == {"min": 0.0, "median": 0.5, "max": 1.0}
    assert brightness["current"] == {"min": 0.25, "median": 0.25, "max": 0.25}
    third = 0.3333
    assert brightness["histogram"] == {
        "edges": [round(i / 16, 3) for i in range(17)],  # 0.0625 -> 0.062, ...
        "reference": [third] + [0.0] * 7 + [third] + [0.0] * 6 + [third],
        "current": [0.0] * 4 + [1.0] + [0.0] * 11}
    assert brightness["histogram"]["edges"][1] == 0.062
    widths = _frame(_rows("a", 3, "a")).assign(width=[1.23456, 2.34567, 3.45678])
    summary = compare_versions(widths, new, None, None, _config(),
                               seed=0)["distributions"]["width"]["reference"]
    assert summary == {"min": 1.235, "median": 2.346, "max": 3.457}


def test_the_embedding_test_needs_both_samples_and_uses_the_runs_seed() -> None:
    table = _frame(_rows("a", 5, "a"))
    rng = np.random.default_rng(2)
    old, new = rng.normal(size=(15, 3)), rng.normal(size=(12, 3))
    cfg = _config(p_value=0.05, permutations=100)
    assert compare_versions(table, table, old, None, cfg, seed=0)["embedding"] is None
    assert compare_versions(table, table, None, new, cfg, seed=0)["embedding"] is None
    report = compare_versions(table, table, old, new, cfg, seed=7)
    expected = mmd_shift(old, new, 100, 7, 0.05).as_json()
    assert report["embedding"] == {**expected, "sample_sizes": [15, 12]}
    assert report["embedding"]["p_value"] != mmd_shift(old, new, 100, 8, 0.05).p_value
