"""What an unfinished training run keeps so that the next run resumes it (`paths.train_state`).

DVC deletes a stage's outputs before running it, so the state lives outside them: Keras'
BackupAndRestore weights, optimizer and epoch (`backup/`), the logs so far (`logs/`: dvclive,
TensorBoard), the best-by-val model (`best.keras`) and the callbacks' own state per finished
epoch (`progress.json`, written just before the weights). A fingerprint of the params, the data
and the model code guards against resuming a different run; a finished run moves its outputs
into place and removes the folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any, Protocol

import keras

from alexnet_pipeline.core import atomic

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "fingerprint.json"


class Stateful(Protocol):
    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


def run_fingerprint(settings: dict[str, Any], data_files: list[Path]) -> str:
    """A hash of what decides a run's result: the settings and the data's description files."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in data_files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


class RunState:
    """The state folder of one training run; `open` discards a folder left by a different run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.backup = folder / "backup"
        self.logs = folder / "logs"
        self.best_model = folder / "best.keras"
        self.progress_file = folder / "progress.json"

    @classmethod
    def open(cls, folder: Path, run_fingerprint: str) -> RunState:
        state = cls(folder)
        marker = folder / FINGERPRINT_FILE
        if folder.exists() and (not marker.exists() or json.loads(marker.read_text()) != run_fingerprint):
            log.info("%s holds an unfinished run with other params, data or code: starting afresh", folder)
            shutil.rmtree(folder)
        try:
            resumable = state.resumed_epoch() > 0
        except (ValueError, KeyError):  # a record cut short by the kill: nothing safe to resume
            log.warning("%s: the backup record is unreadable: starting afresh", folder)
            resumable = False
        if not resumable:  # nothing to resume: no stale logs either
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write_json(marker, run_fingerprint)
        return state

    def resumed_epoch(self) -> int:
        """Epochs the unfinished run completed (0 for a fresh run), from BackupAndRestore's record."""
        metadata = self.backup / "training_metadata.json"
        return int(json.loads(metadata.read_text())["epoch"]) if metadata.exists() else 0

    def callbacks_state(self, epoch: int) -> dict[str, Any]:
        """The callbacks' state saved at the end of `epoch` (epochs counted from 1), if any."""
        saved = json.loads(self.progress_file.read_text()) if self.progress_file.exists() else {}
        return saved.get(str(epoch), {})

    def trim_logs(self, epochs: int) -> None:
        """Drop dvclive rows of epochs after the first `epochs` (a kill can land between the logs
        and the backup of an epoch, which is then trained, and logged, again)."""
        for tsv in (self.logs / "plots").rglob("*.tsv"):
            with tsv.open(newline="") as handle:
                rows = list(csv.reader(handle, delimiter="\t"))
            kept = [rows[0]] + [row for row in rows[1:] if int(row[rows[0].index("step")]) < epochs]
            atomic.write_text(tsv, "".join("\t".join(row) + "\n" for row in kept))

    def finish(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the model of the epoch with the lowest val loss (training loss without a val split),
    saved atomically (not saved with `path` None: a worker that writes nothing); with `patience`,
    stops training after that many epochs without a new best."""

    def __init__(self, path: Path | None, patience: int = 0) -> None:
        super().__init__()
        self.path, self.patience = path, patience
        self.best, self.best_epoch, self.wait, self.stopped_early = float("inf"), 0, 0, False

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        loss = logs.get("val_loss", logs.get("loss"))
        if loss is None or not math.isfinite(loss):
            return
        if loss < self.best:
            self.best, self.best_epoch, self.wait = float(loss), epoch + 1, 0
            if self.path is not None:
                atomic.write_with(self.path, self.model.save)
            return
        self.wait += 1
        if self.patience and self.wait >= self.patience:
            log.info("early stopping: no better val loss for %d epochs (best at epoch %d)",
                     self.wait, self.best_epoch)
            self.stopped_early = True
            self.model.stop_training = True

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_early": self.stopped_early}

    def restore(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_early = state["stopped_early"]


class StateBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore (two copies, kept until the run has finished) that first records
    the named callbacks' state for the epoch, so a resume restores both from the same epoch."""

    def __init__(self, state: RunState, parts: dict[str, Stateful]) -> None:
        super().__init__(str(state.backup), double_checkpoint=True, delete_checkpoint=False)
        self.progress_file, self.parts = state.progress_file, parts

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        saved = json.loads(self.progress_file.read_text()) if self.progress_file.exists() else {}
        saved = {key: value for key, value in saved.items() if int(key) >= epoch}  # this and the last
        saved[str(epoch + 1)] = {name: part.state() for name, part in self.parts.items()}
        atomic.write_json(self.progress_file, saved)
        super().on_epoch_end(epoch, logs)


def restore_progress(saved: dict[str, Any], parts: dict[str, Stateful]) -> None:
    for name, part in parts.items():
        if name in saved:
            part.restore(saved[name])


class Throughput(keras.callbacks.Callback):
    """Epochs run in this process and their wall time, for the training summary."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs, self.seconds, self._start = 0, 0.0, 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.epochs += 1
        self.seconds += time.perf_counter() - self._start
