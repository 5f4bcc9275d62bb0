"""source: what the data source is right now; unchanged input gives byte-identical output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from alexnet_pipeline.config import load_params
from alexnet_pipeline.errors import PipelineError
from stages.source import describe_source, main
from tests.helpers import write_image, write_params
from tests.kaggle_stub import KaggleStub


def test_sample_is_described_by_name(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path))
    main(params)
    assert json.loads(params.paths.source.read_text()) == {"source": "sample"}


def test_local_folder_fingerprint_changes_only_with_the_folder(tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_image(images / "train/cat/1.jpg")
    data = load_params(write_params(tmp_path / "project", data__source="local",
                                    data__local__path=str(images))).data
    first = describe_source(data)
    assert first["source"] == "local" and first["path"] == str(images.resolve())
    assert first["files"] == 1 and first["bytes"] == (images / "train/cat/1.jpg").stat().st_size
    assert describe_source(data) == first
    write_image(images / "train/cat/2.jpg", seed=2)
    added = describe_source(data)
    assert added["files"] == 2 and added["fingerprint"] != first["fingerprint"]
    (images / "train/cat/2.jpg").unlink()
    os.utime(images / "train/cat/1.jpg", ns=(0, 0))  # same files, one touched
    assert describe_source(data)["fingerprint"] != first["fingerprint"]


def test_missing_local_folder_is_a_clear_error(tmp_path: Path) -> None:
    data = load_params(write_params(tmp_path, data__source="local",
                                    data__local__path=str(tmp_path / "nowhere"))).data
    with pytest.raises(PipelineError, match="nowhere does not exist"):
        describe_source(data)


def test_kaggle_is_described_by_its_current_version(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets["tester/cats"] = {1: b"x", 4: b"y"}
    params = load_params(write_params(tmp_path, data__source="kaggle", data__kaggle__dataset="tester/cats"))
    main(params)
    assert json.loads(params.paths.source.read_text()) == {
        "source": "kaggle", "dataset": "tester/cats", "version": 4}
