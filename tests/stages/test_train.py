"""train, as a process on real shards of the tiny sample: resume after a kill,
outputs, early stopping, training on two devices and on two workers, the same weights whether
the input is cached or streamed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from alexnet_pipeline.config import load_params
from alexnet_pipeline.training.devices import choose_precision, detect_hardware
from alexnet_pipeline.training.fitting import cross_entropy
from alexnet_pipeline.training.model import load_model
from alexnet_pipeline.training.run import training_datasets
from tests.helpers import make_project, run, set_params, subprocess_env

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
    completed = run(TRAIN, project, check=False)
    assert completed.returncode == 0, completed.stderr
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["resumed_from_epoch"] == 0 and summary["replicas"] == 1
    assert 1 <= summary["best_epoch"] <= 2 and summary["images_per_s"] > 0
    auto = choose_precision("auto", detect_hardware())  # float32 on any CPU, with the reason
    assert (summary["precision"], summary["precision_reason"]) == (auto.policy, auto.reason)
    # train.cache: auto caches the tiny train split (32 images of 76x76: 0.5 MiB), logged and recorded
    assert summary["input_cache"] == "memory" and summary["input_cache_reason"].startswith("auto: it fits: ")
    assert f"train input: decoded once into memory ({summary['input_cache_reason']})" in completed.stderr
    history = json.loads((project / "reports/train/metrics.json").read_text())
    assert history["step"] == 1 and {"loss", "accuracy", "learning_rate"} <= set(history["train"])
    assert list((project / "reports/train/tensorboard/train").glob("events.out.tfevents.*"))
    loss_rows = (project / "reports/train/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert len(loss_rows) == 1 + 2
    best = load_model(project / "models/alexnet.best.keras")
    assert best.output_shape == (None, 4)
    assert not (project / "checkpoints/train").exists()  # a finished run leaves no state behind


def test_a_killed_dvc_repro_resumes_training_from_its_last_finished_epoch(project: Path) -> None:
    # Killed while cropping from the cached split, resumed streaming (as on a machine with less
    # memory): the cache setting is no part of the run's fingerprint, since the batches are the same.
    set_params(project, {("train", "epochs"): 6, ("train", "cache"): "memory"})
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

    set_params(project, {("train", "cache"): "off"})
    completed = run(repro, project, check=False)
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout + completed.stderr
    assert f"resuming the interrupted run from epoch {finished} of 6" in output
    assert f"Epoch {finished + 1}/6" in output and "Epoch 1/6" not in output
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert summary["resumed_from_epoch"] == finished and summary["epochs_run"] == 6
    assert (summary["input_cache"], summary["input_cache_reason"]) == ("off", "train.cache: off")
    history = json.loads((project / "reports/train/metrics.json").read_text())
    assert history["step"] == 5  # the curves span both runs
    assert not (project / "checkpoints/train").exists()


def test_changed_params_start_afresh_instead_of_resuming(project: Path) -> None:
    state = project / "checkpoints/train"
    (state / "backup").mkdir(parents=True)
    (state / "backup/training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    (state / "fingerprint.json").write_text('"from another run"')
    completed = run(TRAIN, project, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "starting afresh" in completed.stderr and "resuming" not in completed.stderr
    assert json.loads((project / "reports/train/summary.json").read_text())["resumed_from_epoch"] == 0


def test_the_paper_recipe(project: Path) -> None:
    set_params(project, {("train", "epochs"): 8, ("train", "recipe"): "paper",
                         ("train", "early_stopping_patience"): 1, ("train", "learning_rate"): 0.5})
    completed = run(TRAIN, project, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "train.recipe: paper sets" in completed.stderr and "learning_rate=0.01" in completed.stderr
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert summary["optimizer"] == "sgd" and summary["batch_size"] == 128 and summary["learning_rate"] == 0.01
    assert load_model(project / "models/alexnet.keras").losses  # weight decay
    # Early stopping with patience 1: the run ends after the first epoch whose val loss is no new
    # minimum, or after all 8. Whether it plateaus depends on the data, so the logged val losses
    # say which epoch that is (the rule's own unit tests: tests/alexnet_pipeline/training/).
    plots = project / "reports/train/plots/metrics"
    val_losses = _per_epoch(plots / "eval/loss.tsv")
    assert len(val_losses) == len(_per_epoch(plots / "train/loss.tsv")) == summary["epochs_run"]
    stop = next((epoch for epoch in range(2, len(val_losses) + 1)
                 if val_losses[epoch - 1] >= min(val_losses[:epoch - 1])), 8)
    assert summary["epochs_run"] == stop and summary["stopped_early"] == (stop < 8)
    assert summary["best_epoch"] == 1 + val_losses.index(min(val_losses))
    assert json.loads((project / "reports/train/metrics.json").read_text())["step"] == stop - 1


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from alexnet_pipeline.training import devices
from alexnet_pipeline.config import load_params
from alexnet_pipeline.input.reader import make_dataset
from alexnet_pipeline.input.tfrecords import ShardFormat, shard_files
from alexnet_pipeline.training.fitting import fit_alexnet
params = load_params("params.yaml")
processed = params.paths.processed
stats = json.loads((processed / "stats.json").read_text())
data = make_dataset(shard_files(processed, "train"), ShardFormat.read(processed), 8, training=True, seed=0)
strategy = devices.strategy_for(["/cpu:0", "/cpu:1"])
model = fit_alexnet(params.train, params.model, params.base, data, None, 4, stats, strategy=strategy)
per_replica = strategy.experimental_distribute_dataset(data.take(1))
shapes = [t.shape[0] for t in strategy.experimental_local_results(next(iter(per_replica))[0])]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "per_replica_batch": shapes,
                  "loss": model.history.history["loss"]}))
"""


def test_mirrored_strategy_splits_the_batch_over_two_devices(project: Path) -> None:
    set_params(project, {("train", "epochs"): 1})
    completed = run([sys.executable, "-c", MIRRORED], project, check=False)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["per_replica_batch"] == [4, 4]
    assert np.isfinite(result["loss"]).all()


def test_bf16_training_is_deterministic_cached_or_streamed_and_its_float32_models_score_as_training_did(
        project: Path) -> None:
    runs = []
    for cache in ("memory", "off"):  # the same seed, the same batches: cropped from memory or streamed
        set_params(project, {("train", "epochs"): 2, ("train", "mixed_precision"): "bf16", ("train", "cache"): cache})
        completed = run(TRAIN, project, check=False)
        assert completed.returncode == 0, completed.stderr
        assert json.loads((project / "reports/train/summary.json").read_text())["input_cache"] == cache
        runs.append(_weights(project / "models/alexnet.keras"))
    assert all(np.array_equal(a, b) for a, b in zip(*runs, strict=True))  # bit for bit, on the same CPU
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert (summary["precision"], summary["precision_reason"]) == ("mixed_bfloat16", "train.mixed_precision: bf16")
    for saved in ("alexnet.keras", "alexnet.best.keras"):  # float32 copies: full precision on any device
        model = load_model(project / "models" / saved)
        assert {layer.compute_dtype for layer in model.layers if layer.weights} == {"float32"}
    # The saved float32 model scores the val split as training's bf16 model did in its last epoch.
    params = load_params(project / "params.yaml")
    _, val_data = training_datasets(project / params.paths.processed, params.train, params.base.seed)
    last = load_model(project / "models/alexnet.keras")
    last.compile(loss=cross_entropy(params.train), metrics=["accuracy"])
    scored = last.evaluate(val_data, return_dict=True, verbose=0)
    logged = json.loads((project / "reports/train/metrics.json").read_text())["eval"]
    assert scored["loss"] == pytest.approx(logged["loss"], rel=0.01)
    assert scored["accuracy"] == pytest.approx(logged["accuracy"], abs=1e-6)


def test_training_through_a_tf_data_service_on_loopback(project: Path) -> None:
    """train.data_service: a dispatcher and two workers (in this process) make the batches of the
    real train stage; nothing is cached, and the summary says why."""
    service = tf.data.experimental.service
    dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
    port = dispatcher.target.rsplit(":", 1)[1]
    workers = [service.WorkerServer(service.WorkerConfig(dispatcher_address=f"127.0.0.1:{port}",
                                                         heartbeat_interval_ms=100)) for _ in range(2)]
    try:
        set_params(project, {("train", "data_service"): f"grpc://127.0.0.1:{port}"})
        completed = run(TRAIN, project, check=False)
    finally:
        for worker in workers:
            worker.stop()
        dispatcher.stop()
    assert completed.returncode == 0, completed.stderr
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["input_cache"] == "off"
    assert summary["input_cache_reason"].startswith(f"train.data_service: the workers at grpc://127.0.0.1:{port} make")
    assert np.all(np.isfinite(_weights(project / "models/alexnet.keras")[0]))


def test_a_data_service_nobody_answers_is_a_clear_error(project: Path) -> None:
    set_params(project, {("train", "data_service"): f"grpc://127.0.0.1:{_free_ports(1)[0]}"})
    completed = run(TRAIN, project, check=False)
    assert completed.returncode == 1 and "Traceback" not in completed.stderr
    assert "train.data_service: no tf.data dispatcher answers at grpc://127.0.0.1:" in completed.stderr


def test_a_diverging_run_stops_with_a_clear_error(project: Path) -> None:
    set_params(project, {("train", "epochs"): 3, ("train", "optimizer"): "sgd", ("train", "learning_rate"): 1e12})
    completed = run(TRAIN, project, check=False)
    assert completed.returncode == 1
    assert "error: train: the training loss became nan (diverged)" in completed.stderr
    assert "lower `train.learning_rate`" in completed.stderr and "Traceback" not in completed.stderr
    assert not (project / "models/alexnet.keras").exists()


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _per_epoch(tsv: Path) -> list[float]:
    return [float(line.split("\t")[-1]) for line in tsv.read_text().splitlines()[1:]]


def _images_per_epoch(log: str) -> list[int]:
    return [int(n) for n in re.findall(r"this worker trained on (\d+) images", log)]


def _start_workers(projects: tuple[Path, Path]) -> list[subprocess.Popen]:
    """`alexnet train-worker` in each project (the same command on every host: the chief runs
    `dvc repro train`, the other the stage alone), as the two workers of a TF_CONFIG cluster."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    return [subprocess.Popen([str(Path(sys.executable).parent / "alexnet"), "train-worker"], cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                             env={**subprocess_env(), "TF_CONFIG": json.dumps(
                                 {"cluster": cluster, "task": {"type": "worker", "index": index}})})
            for index, cwd in enumerate(projects)]


@pytest.mark.slow(seconds=150)
def test_two_workers_on_localhost_resume_and_train_as_one_machine_does(project: Path, tmp_path: Path) -> None:
    # No dropout or lighting noise (drawn per replica) and LRN instead of batch norm (statistics
    # per replica): what is left differs from one machine only by the order of float sums.
    set_params(project, {("model", "variant"): "paper", ("model", "dropout"): 0.0,
                         ("train", "lighting_std"): 0.0, ("train", "epochs"): 3})
    worker_project, single_project = tmp_path / "worker1", tmp_path / "single"
    for copy in (worker_project, single_project):
        shutil.copytree(project, copy, symlinks=True)

    # A first run, both workers killed once the chief has backed up an epoch (a lost cluster).
    first = _start_workers((project, worker_project))
    metadata = project / "checkpoints/train/backup/training_metadata.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first[0].poll() is None and _finished_epochs(metadata) < 1:
        time.sleep(0.05)
    for process in first:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    finished = _finished_epochs(metadata)
    assert 1 <= finished < 3, "training was not killed mid-run"
    assert not (worker_project / "checkpoints").exists()  # the chief alone keeps the backup

    processes = _start_workers((project, worker_project))
    try:
        logs = [process.communicate(timeout=300)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    assert [process.returncode for process in processes] == [0, 0], logs
    assert "worker 0 of 2 (the chief): " in logs[0] and "dvc repro train" in logs[0]
    assert f"resuming the interrupted run from epoch {finished} of 3" in logs[0]
    assert "this is worker 1" in logs[1] and "the chief writes the model" in logs[1]

    # Both took part: each trained on its share of every global batch, together on every image.
    splits = json.loads((project / "data/processed/splits.json").read_text())
    chief_images, worker_images = _images_per_epoch(logs[0]), _images_per_epoch(logs[1])
    assert len(chief_images) == len(worker_images) == 3 - finished and min(chief_images + worker_images) > 0
    assert {a + b for a, b in zip(chief_images, worker_images, strict=True)} == {sum(splits["train"].values())}
    # Only the chief wrote: the model and the logs, recorded by DVC.
    summary = json.loads((project / "reports/train/summary.json").read_text())
    assert summary["workers"] == 2 and summary["replicas"] == 2 and summary["input_cache"] == "memory"
    assert summary["resumed_from_epoch"] == finished and summary["epochs_run"] == 3
    assert "outs" in (project / "dvc.lock").read_text() and not (project / "checkpoints/train").exists()
    assert not (worker_project / "models").exists() and not (worker_project / "reports/train").exists()

    # The model of one uninterrupted machine: an epoch's data depends only on its number (bit for
    # bit, resumed or not), each replica's loss is divided by the global batch size, and the resumed
    # workers started from the chief's backup, so only the order of float sums differs. Adam divides
    # each step by the root of its squared-gradient average, which magnifies that noise in
    # near-zero gradients: on these shards the first epoch agrees within 5e-8 and the gap grows about
    # 5x an epoch, to 1.1e-4 in val loss and 6e-4 in a weight after 3 (another order of the same
    # images, or another initialisation, moves losses and weights by 1e-2).
    assert run(TRAIN, single_project, check=False).returncode == 0
    for name in ("train/loss", "train/accuracy", "eval/loss", "eval/accuracy"):
        two, one = (_per_epoch(copy / "reports/train/plots/metrics" / f"{name}.tsv")
                    for copy in (project, single_project))
        assert len(two) == 3 and two[0] == pytest.approx(one[0], abs=1e-6), name
        assert two == pytest.approx(one, abs=1e-3), name
    for a, b in zip(_weights(project / "models/alexnet.keras"), _weights(single_project / "models/alexnet.keras"),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-3)
