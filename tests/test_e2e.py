"""End to end: the real stages through `dvc repro` on a tiny sample, in a temp project."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from alexnet_pipeline.model import load_model
from tests.conftest import run

pytestmark = pytest.mark.slow
DVC = [sys.executable, "-m", "dvc"]


def test_repro_writes_every_output(tiny_project: Path) -> None:
    metrics = json.loads((tiny_project / "reports/metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["loss"] > 0
    assert sorted(metrics["per_class"]) == ["checks", "dots", "rings", "stripes"]
    assert sum(c["support"] for c in metrics["per_class"].values()) == 4 * 3

    validation = json.loads((tiny_project / "reports/validation.json").read_text())
    assert validation["success"] is True and validation["invalid"] == []
    assert validation["counts"]["files"] == 4 * (8 + 3)

    html = (tiny_project / "reports/report.html").read_text()
    assert html.count("data:image/png;base64,") == 2  # training curves and confusion matrix
    assert "http://" not in html and "https://" not in html

    assert set(metrics["ten_crop"]) == {"centre_accuracy", "centre_loss", "gain"}
    eval_files = sorted(p.name for p in (tiny_project / "reports/eval").iterdir())
    assert eval_files == ["confusion.csv", "misclassified.csv", "predictions.csv"]  # 4 classes: no ROC
    assert "| accuracy |" in (tiny_project / "reports/report.md").read_text()
    assert (tiny_project / "models/serving/labels.txt").read_text().split() == sorted(metrics["per_class"])
    model = load_model(tiny_project / "models/alexnet.keras")
    assert model.output_shape == (None, 4)
    assert load_model(tiny_project / "models/alexnet.best.keras").output_shape == (None, 4)
    assert (tiny_project / "dvc.lock").exists()
    # DVC's outputs stay out of git: under data/, models/ and reports/ only the metrics, a DVC
    # output kept in git (cache: false), show as new, to be committed with dvc.lock.
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], tiny_project).stdout
    assert [line for line in status.splitlines() if line[3:].startswith(("data/", "models/", "reports/"))] == [
        "?? reports/metrics.json"]
    assert (tiny_project / "data/raw/train").is_dir() and (tiny_project / "models/labels.json").exists()


def test_second_repro_only_rechecks_the_source(tiny_project: Path) -> None:
    lock_before = (tiny_project / "dvc.lock").read_text()
    completed = run(DVC + ["repro"], tiny_project)
    assert completed.stdout.count("Running stage") == 1 and "Running stage 'source'" in completed.stdout
    for stage in ("download", "validate", "preprocess", "train", "evaluate", "export", "report"):
        assert f"Stage '{stage}' didn't change, skipping" in completed.stdout
    assert (tiny_project / "dvc.lock").read_text() == lock_before


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rerun_is_deterministic(tiny_project: Path) -> None:
    def outputs() -> dict:
        shards = sorted((tiny_project / "data/processed").glob("*.tfrecord"))
        return {p.name: _digest(p) for p in shards} | {
            "metrics": (tiny_project / "reports/metrics.json").read_text(),
            "history": (tiny_project / "reports/train/metrics.json").read_text(),
            "weights": [w.tobytes() for w in load_model(tiny_project / "models/alexnet.keras").get_weights()]}

    before = outputs()
    run(DVC + ["repro", "--force", "--single-item", "preprocess", "train", "evaluate"], tiny_project)
    assert outputs() == before  # the same shard bytes, metrics and weights, bit for bit


def test_exp_run_shows_in_metrics_and_params_diff(tiny_project: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run(git + ["add", "dvc.lock", "reports/metrics.json"], tiny_project)
    run(git + ["commit", "-qm", "baseline"], tiny_project)
    run(DVC + ["exp", "run", "-S", "train.epochs=1"], tiny_project)

    params_diff = json.loads(run(DVC + ["params", "diff", "--json"], tiny_project).stdout)
    assert params_diff["params.yaml"]["train.epochs"] == {"old": 2, "new": 1, "diff": -1}
    metrics_diff = json.loads(run(DVC + ["metrics", "diff", "--all", "--json"], tiny_project).stdout)
    assert metrics_diff["reports/train/metrics.json"]["step"] == {"old": 1, "new": 0, "diff": -1}
    test_loss = metrics_diff["reports/metrics.json"]["loss"]
    assert test_loss["old"] is not None and test_loss["new"] is not None
    assert test_loss["old"] != test_loss["new"]
    # the report compares with the committed metrics too, read through DVC inside `dvc exp run`
    loss_row = next(line for line in (tiny_project / "reports/report.md").read_text().splitlines()
                    if line.startswith("| loss |"))
    assert loss_row == (f"| loss | {test_loss['new']:.4f} | {test_loss['old']:.4f} | "
                        f"{test_loss['new'] - test_loss['old']:+.4f} |")
