"""The Kaggle source under `dvc repro`, against the loopback stub: a new upstream version reruns
download, an unchanged one leaves every hash (and so every later stage) alone, and without
credentials `dvc exp run` stops with the actionable message, not a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import cat_and_dog_zip, make_project, run, set_params, tree_digests
from tests.kaggle_stub import KaggleStub

pytestmark = pytest.mark.slow
DVC = [sys.executable, "-m", "dvc"]
DATASET = "tester/cat-and-dog"


def _raw_hash(project: Path) -> str:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return lock["stages"]["download"]["outs"][0]["md5"]


def test_new_upstream_version_reruns_download_and_an_unchanged_one_changes_nothing(
        tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[DATASET] = {1: cat_and_dog_zip(per_class=3)}
    project = make_project(tmp_path / "project")
    set_params(project, {("data", "source"): "kaggle", ("data", "kaggle", "dataset"): DATASET,
                         ("data", "kaggle", "cache_dir"): str(tmp_path / "cache"),
                         ("data", "kaggle", "backoff_s"): 0.0})
    run(DVC + ["repro", "validate"], project)
    first_hash, first_files = _raw_hash(project), tree_digests(project / "data/raw")
    gets = len(kaggle_stub.blob_gets())

    # Forced to run again on the same version: the cached archive, byte-identical output.
    forced = run(DVC + ["repro", "--force", "--single-item", "download"], project)
    assert "Running stage 'download'" in forced.stdout
    assert _raw_hash(project) == first_hash and len(kaggle_stub.blob_gets()) == gets

    unchanged = run(DVC + ["repro", "validate"], project)
    assert "Stage 'download' didn't change, skipping" in unchanged.stdout
    assert "Stage 'validate' didn't change, skipping" in unchanged.stdout

    kaggle_stub.datasets[DATASET][2] = cat_and_dog_zip(per_class=4, seed=1)
    updated = run(DVC + ["repro", "validate"], project)
    assert "Running stage 'download'" in updated.stdout and "Running stage 'validate'" in updated.stdout
    assert _raw_hash(project) != first_hash and tree_digests(project / "data/raw") != first_files
    assert len(list((project / "data/raw/train/cats").iterdir())) == 4
    assert sorted(p.name for p in (tmp_path / "cache" / "datasets" / DATASET).iterdir()) == [
        "1.archive", "2.archive"]


def test_exp_run_without_credentials_fails_with_the_three_ways(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR",
                 "KAGGLE_API_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    project = make_project(tmp_path / "project")
    completed = run(DVC + ["exp", "run", "-S", "data.source=kaggle"], project, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "error: source: no Kaggle credentials found" in output
    for way in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME=<user> KAGGLE_KEY=<key>", "~/.kaggle/kaggle.json"):
        assert way in output
    assert "Traceback" not in output
