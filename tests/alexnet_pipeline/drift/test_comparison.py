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

from alexnet_pipeline.config import Params, params_from_dict
from alexnet_pipeline.drift.comparison import compare_versions
from alexnet_pipeline.drift.dataset_table import dataset_table
from alexnet_pipeline.drift.embeddings import embed_files, sample_rows
from alexnet_pipeline.input.tfrecords import ShardFormat
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
    manifest = build_manifest(find_images(root), root)
    return dataset_table(manifest[manifest["ok"]], params.preprocess, params.base.seed)


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
