"""Training recipes: the optimizer and the learning-rate control of a run.

`train.recipe: paper` is Krizhevsky et al. 2012, section 5: SGD with momentum 0.9, weight decay
5e-4, batch 128, learning rate 0.01 divided by 10 when val loss stops improving, at most 3 times.
`custom` takes every knob from `params.yaml` (as shipped: the recipe measured to learn best from
scratch on small data). Warm-up and plateau drops are one callback whose state survives a resume.
"""

from __future__ import annotations

import logging
from typing import Any

import keras

from alexnet_pipeline.config import PlateauConfig, TrainConfig
from alexnet_pipeline.training.fused_optimizers import FusedAdam, FusedSGD

log = logging.getLogger(__name__)

PAPER = {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0005,
         "batch_size": 128, "label_smoothing": 0.0, "warmup_epochs": 0,
         "lr_plateau": PlateauConfig(patience=2, factor=0.1, max_drops=3)}


def effective(cfg: TrainConfig) -> TrainConfig:
    """The knobs a run really uses: the paper's values replace the custom ones for `paper`."""
    if cfg.recipe != "paper":
        return cfg
    replaced = {name: value for name, value in PAPER.items() if getattr(cfg, name) != value}
    if replaced:
        log.info("train.recipe: paper sets %s", ", ".join(f"{k}={v}" for k, v in replaced.items()))
    return cfg.model_copy(update=PAPER)


def make_optimizer(cfg: TrainConfig) -> keras.optimizers.Optimizer:
    """SGD with momentum or Adam at `learning_rate` (weight decay is in the model's kernels),
    each updating a variable in one fused kernel."""
    if cfg.optimizer == "sgd":
        return FusedSGD(cfg.learning_rate, momentum=cfg.momentum)
    return FusedAdam(cfg.learning_rate)


class LearningRateControl(keras.callbacks.Callback):
    """Linear warm-up over `warmup_epochs`, then the base rate times `factor` per plateau drop.

    A drop comes after `patience` epochs without a lower val loss (at most `max_drops`); its
    state is plain data (`state`/`restore`) so a resumed run keeps its learning rate."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int) -> None:
        super().__init__()
        self.base = cfg.learning_rate
        self.warmup_steps = cfg.warmup_epochs * steps_per_epoch
        self.plateau = cfg.lr_plateau
        self.steps_per_epoch = steps_per_epoch
        self.drops, self.best, self.wait, self.epoch = 0, float("inf"), 0, 0

    def rate(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return self.base * warm * self.plateau.factor ** self.drops

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        self.model.optimizer.learning_rate = self.rate(self.epoch * self.steps_per_epoch + batch)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.rate((epoch + 1) * self.steps_per_epoch - 1)
        loss = logs.get("val_loss")
        if not self.plateau.patience or loss is None:
            return
        if loss < self.best:
            self.best, self.wait = loss, 0
            return
        self.wait += 1
        if self.wait >= self.plateau.patience and self.drops < self.plateau.max_drops:
            self.drops, self.wait = self.drops + 1, 0
            log.info("val loss has not improved for %d epochs: learning rate now %.3g",
                     self.plateau.patience, self.rate((epoch + 1) * self.steps_per_epoch))

    def state(self) -> dict[str, Any]:
        return {"drops": self.drops, "best": self.best, "wait": self.wait}

    def restore(self, state: dict[str, Any]) -> None:
        self.drops, self.best, self.wait = state["drops"], state["best"], state["wait"]
