"""The state of an unfinished run: fingerprint guard, best checkpoint, early stopping, progress."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from alexnet_pipeline.training_state import (
    BestCheckpoint,
    RunState,
    SaveProgress,
    fingerprint,
    restore_progress,
)


def _backup(folder: Path, epoch: int) -> None:
    (folder / "backup").mkdir(parents=True, exist_ok=True)
    (folder / "backup/training_metadata.json").write_text(json.dumps({"epoch": epoch, "batch": 0}))


def test_fingerprint_changes_with_settings_and_data(tmp_path: Path) -> None:
    data = tmp_path / "stats.json"
    data.write_text("{}")
    first = fingerprint({"lr": 0.1}, [data])
    assert fingerprint({"lr": 0.1}, [data]) == first
    assert fingerprint({"lr": 0.2}, [data]) != first
    data.write_text('{"mean": 1}')
    assert fingerprint({"lr": 0.1}, [data]) != first


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


def test_progress_round_trip(tmp_path: Path) -> None:
    best = BestCheckpoint(tmp_path / "best.keras")
    best.set_model(_tiny_model())
    best.on_epoch_end(0, {"loss": 0.3})
    SaveProgress(tmp_path / "progress.json", {"best": best}).on_epoch_end(0)
    again = BestCheckpoint(tmp_path / "best.keras")
    restore_progress(json.loads((tmp_path / "progress.json").read_text()), {"best": again})
    assert again.best == 0.3
    assert again.best_epoch == 1
