"""The state of an unfinished run: fingerprint guard, best checkpoint, early stopping, progress."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from alexnet_pipeline.training.training_state import (
    BestCheckpoint,
    RunState,
    StateBackup,
    restore_progress,
    run_fingerprint,
)


def _backup(folder: Path, epoch: int) -> None:
    (folder / "backup").mkdir(parents=True, exist_ok=True)
    (folder / "backup/training_metadata.json").write_text(json.dumps({"epoch": epoch, "batch": 0}))


def test_fingerprint_changes_with_settings_and_data(tmp_path: Path) -> None:
    data = tmp_path / "stats.json"
    data.write_text("{}")
    first = run_fingerprint({"lr": 0.1}, [data])
    assert run_fingerprint({"lr": 0.1}, [data]) == first
    assert run_fingerprint({"lr": 0.2}, [data]) != first
    data.write_text('{"mean": 1}')
    assert run_fingerprint({"lr": 0.1}, [data]) != first


def test_open_keeps_the_same_runs_state_and_drops_another(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    state = RunState.open(folder, "run-a")
    _backup(folder, 3)
    (state.logs).mkdir()
    assert RunState.open(folder, "run-a").resumed_epoch() == 3 and state.logs.exists()
    assert RunState.open(folder, "run-b").resumed_epoch() == 0 and not state.logs.exists()


def test_open_without_a_backup_starts_clean(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    RunState.open(folder, "run-a")
    (folder / "logs").mkdir()  # logs of a run killed before its first epoch ended
    assert not (RunState.open(folder, "run-a").logs).exists()


def _tiny_model() -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_best_checkpoint_keeps_the_lowest_val_loss_and_stops_early(tmp_path: Path) -> None:
    best = BestCheckpoint(tmp_path / "best.keras", patience=2)
    best.set_model(_tiny_model())
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.6]):
        best.on_epoch_end(epoch, {"val_loss": loss, "loss": 0.1})
    assert best.best == 0.5 and best.best_epoch == 2 and best.stopped_early and best.model.stop_training
    assert keras.models.load_model(tmp_path / "best.keras").output_shape == (None, 1)
    assert not list(tmp_path.glob(".best*"))  # written under a temporary name, then renamed


def test_state_backup_records_the_callbacks_per_epoch_before_the_weights(tmp_path: Path) -> None:
    state = RunState.open(tmp_path / "state", "run-a")
    model = _tiny_model()
    best = BestCheckpoint(state.best_model)
    best.set_model(model)
    backup = StateBackup(state, {"best": best})
    backup.set_model(model)
    for epoch, loss in enumerate([0.3, 0.2, 0.25]):
        best.on_epoch_end(epoch, {"loss": loss})
        backup.on_epoch_end(epoch, {"loss": loss})
    assert state.resumed_epoch() == 3 and (state.backup / "latest.weights.h5").exists()
    saved = json.loads(state.progress_file.read_text())
    assert sorted(saved) == ["2", "3"]  # this epoch's and the one before, in case the kill cut the backup
    again = BestCheckpoint(state.best_model)
    restore_progress(state.callbacks_state(2), {"best": again})
    assert again.best == 0.2 and again.best_epoch == 2 and again.wait == 0
    restore_progress(state.callbacks_state(3), {"best": again})
    assert again.wait == 1 and not again.stopped_early
    assert state.callbacks_state(1) == {}


def test_an_unreadable_backup_record_starts_afresh(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    RunState.open(folder, "run-a")
    _backup(folder, 2)
    (folder / "backup/training_metadata.json").write_text('{"epo')  # cut off mid-write
    assert RunState.open(folder, "run-a").resumed_epoch() == 0


def test_trim_logs_drops_epochs_after_the_backup(tmp_path: Path) -> None:
    state = RunState.open(tmp_path / "state", "run-a")
    tsv = state.logs / "plots/metrics/train/loss.tsv"
    tsv.parent.mkdir(parents=True)
    tsv.write_text("timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.8\n3\t2\t0.7\n")
    state.trim_logs(2)
    assert tsv.read_text() == "timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.8\n"


def test_best_checkpoint_ignores_a_nan_loss(tmp_path: Path) -> None:
    best = BestCheckpoint(tmp_path / "best.keras", patience=3)
    best.set_model(_tiny_model())
    best.on_epoch_end(0, {"val_loss": float("nan")})
    assert best.best_epoch == 0 and not (tmp_path / "best.keras").exists()


def test_best_checkpoint_without_a_path_decides_like_one_but_writes_nothing(tmp_path: Path) -> None:
    # a non-chief worker: it must stop early in the same epoch as the chief
    writing, silent = BestCheckpoint(tmp_path / "best.keras", patience=1), BestCheckpoint(None, patience=1)
    for callback in (writing, silent):
        callback.set_model(_tiny_model())
        for epoch, loss in enumerate([0.9, 0.7, 0.8]):
            callback.on_epoch_end(epoch, {"val_loss": loss})
    assert silent.state() == writing.state() == {"best": 0.7, "best_epoch": 2, "wait": 1, "stopped_early": True}
    assert silent.model.stop_training and list(tmp_path.iterdir()) == [tmp_path / "best.keras"]
