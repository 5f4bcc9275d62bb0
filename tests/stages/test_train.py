"""train, as a process on real shards of the tiny sample: resume after a kill, determinism,
outputs, early stopping, and training on two devices."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from alexnet_pipeline.model import load_model
from tests.conftest import make_project, run, set_params
from tests.helpers import run_command, subprocess_env

pytestmark = pytest.mark.slow
TRAIN = [sys.executable, "-m", "stages.train"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project with its shards made by the real stages, up to preprocess."""
    project = make_project(tmp_path_factory.mktemp("train_project"))
    run([sys.executable, "-m", "dvc", "repro", "preprocess"], project)
    return project


@pytest.fixture
def project(prepared: Path, tmp_path: Path) -> Path:
    """A private copy of the prepared project (its own models, reports and state)."""
    copy = tmp_path / "project"
    shutil.copytree(prepared, copy, symlinks=True)
    return copy


def _finished_epochs(metadata: Path) -> int:
    """BackupAndRestore's count of finished epochs; 0 while the file is absent or being written."""
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _weights(path: Path) -> list[np.ndarray]:
    return load_model(path).get_weights()


def test_outputs_logs_and_summary(project: Path) -> None:
    completed = run_command(TRAIN, project)
    assert completed.returncode == 0, completed.stderr
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["resumed_from_epoch"] == 0 and summary["replicas"] == 1
    assert 1 <= summary["best_epoch"] <= 2 and summary["images_per_s"] > 0
    assert summary["precision"] == "float32"  # mixed_precision: auto is off without a GPU
    history = json.loads((project / "reports/train/metrics.json").read_text())
    assert history["step"] == 1 and {"loss", "accuracy", "learning_rate"} <= set(history["train"])
    assert list((project / "reports/train/tensorboard/train").glob("events.out.tfevents.*"))
    loss_rows = (project / "reports/train/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert len(loss_rows) == 1 + 2
    best = load_model(project / "models/alexnet.best.keras")
    assert best.output_shape == (None, 4)
    assert not (project / "checkpoints/train").exists()  # a finished run leaves no state behind


def test_a_killed_dvc_repro_resumes_training_from_its_last_finished_epoch(project: Path) -> None:
    set_params(project, {("train", "epochs"): 6})
    repro = [sys.executable, "-m", "dvc", "repro", "train"]
    metadata = project / "checkpoints/train/backup/training_metadata.json"
    process = subprocess.Popen(repro, cwd=project, env=subprocess_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None and _finished_epochs(metadata) < 1:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # dvc and the stage it runs, as a lost machine would
    process.wait()
    finished = _finished_epochs(metadata)
    assert 1 <= finished < 6, "training was not killed mid-run"
    assert not (project / "models/alexnet.keras").exists()  # nothing half-done where DVC looks

    completed = run_command(repro, project)
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout + completed.stderr
    assert f"resuming the interrupted run from epoch {finished} of 6" in output
    assert f"Epoch {finished + 1}/6" in output and "Epoch 1/6" not in output
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert summary["resumed_from_epoch"] == finished and summary["epochs_run"] == 6
    history = json.loads((project / "reports/train/metrics.json").read_text())
    assert history["step"] == 5  # the curves span both runs
    assert not (project / "checkpoints/train").exists()


def test_changed_params_start_afresh_instead_of_resuming(project: Path) -> None:
    state = project / "checkpoints/train"
    (state / "backup").mkdir(parents=True)
    (state / "backup/training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    (state / "fingerprint.json").write_text('"from another run"')
    completed = run_command(TRAIN, project)
    assert completed.returncode == 0, completed.stderr
    assert "starting afresh" in completed.stderr and "resuming" not in completed.stderr
    assert json.loads((project / "reports/train/summary.json").read_text())["resumed_from_epoch"] == 0


def test_two_runs_give_identical_weights(project: Path, tmp_path: Path) -> None:
    set_params(project, {("train", "epochs"): 1})
    assert run_command(TRAIN, project).returncode == 0
    first = tmp_path / "first.keras"
    shutil.copy(project / "models/alexnet.keras", first)
    assert run_command(TRAIN, project).returncode == 0
    for a, b in zip(_weights(first), _weights(project / "models/alexnet.keras"), strict=True):
        assert np.array_equal(a, b)


def test_the_paper_recipe(project: Path) -> None:
    set_params(project, {("train", "epochs"): 8, ("train", "recipe"): "paper",
                         ("train", "early_stopping_patience"): 1, ("train", "learning_rate"): 0.5})
    completed = run_command(TRAIN, project)
    assert completed.returncode == 0, completed.stderr
    assert "train.recipe: paper sets" in completed.stderr and "learning_rate=0.01" in completed.stderr
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert summary["optimizer"] == "sgd" and summary["batch_size"] == 128 and summary["learning_rate"] == 0.01
    # early stopping itself: tests/alexnet_pipeline/test_training_state.py (a process run need not plateau)
    assert summary["epochs_run"] <= 8 and load_model(project / "models/alexnet.keras").losses  # weight decay


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from alexnet_pipeline import devices
from alexnet_pipeline.config import load_params
from alexnet_pipeline.reader import make_dataset
from alexnet_pipeline.tfrecords import ShardFormat, shard_files
from stages.train import train
params = load_params("params.yaml")
processed = params.paths.processed
stats = json.loads((processed / "stats.json").read_text())
data = make_dataset(shard_files(processed, "train"), ShardFormat.read(processed), 8, training=True, seed=0)
strategy = devices.strategy_for(["/cpu:0", "/cpu:1"])
model = train(params.train, params.model, params.base, data, None, 4, stats, strategy=strategy)
per_replica = strategy.experimental_distribute_dataset(data.take(1))
shapes = [t.shape[0] for t in strategy.experimental_local_results(next(iter(per_replica))[0])]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "per_replica_batch": shapes,
                  "loss": model.history.history["loss"]}))
"""


def test_mirrored_strategy_splits_the_batch_over_two_devices(project: Path) -> None:
    set_params(project, {("train", "epochs"): 1})
    completed = run_command([sys.executable, "-c", MIRRORED], project)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["per_replica_batch"] == [4, 4]
    assert np.isfinite(result["loss"]).all()


def test_bf16_mixed_precision_trains_and_saves_float32_models(project: Path) -> None:
    set_params(project, {("train", "epochs"): 1, ("train", "mixed_precision"): "bf16"})
    completed = run_command(TRAIN, project)
    assert completed.returncode == 0, completed.stderr
    assert json.loads((project / "reports/train/summary.json").read_text())["precision"] == "mixed_bfloat16"
    for saved in ("alexnet.keras", "alexnet.best.keras"):  # float32 copies: full precision on any device
        model = load_model(project / "models" / saved)
        assert {layer.compute_dtype for layer in model.layers if layer.weights} == {"float32"}
    assert np.isfinite(json.loads((project / "reports/train/metrics.json").read_text())["train"]["loss"])


def test_a_diverging_run_stops_with_a_clear_error(project: Path) -> None:
    set_params(project, {("train", "epochs"): 3, ("train", "optimizer"): "sgd", ("train", "learning_rate"): 1e12})
    completed = run_command(TRAIN, project)
    assert completed.returncode == 1
    assert "error: train: the training loss became nan (diverged)" in completed.stderr
    assert "lower `train.learning_rate`" in completed.stderr and "Traceback" not in completed.stderr
    assert not (project / "models/alexnet.keras").exists()
