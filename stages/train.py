"""train: fit AlexNet on the train shards, validating on val, and save it to `paths.model`.

Per-epoch loss and accuracy go to dvclive (`paths.train_logs`) for `dvc plots`; the class names
go to `paths.labels`. The model is written atomically. TensorFlow uses a GPU when one is
visible.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import keras
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from alexnet_pipeline import atomic
from alexnet_pipeline.artifacts import CLASSES_FILE, SPLITS_FILE, STATS_FILE
from alexnet_pipeline.config import BaseConfig, ModelConfig, Params, TrainConfig
from alexnet_pipeline.model import build_alexnet
from alexnet_pipeline.lighting import PCALighting
from alexnet_pipeline.reader import make_dataset
from alexnet_pipeline.stage_runner import run_stage
from alexnet_pipeline.tfrecords import ShardFormat, shard_files

log = logging.getLogger(__name__)


def make_optimizer(cfg: TrainConfig) -> keras.optimizers.Optimizer:
    """SGD with momentum or Adam, at `train.learning_rate`."""
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(cfg.learning_rate, momentum=cfg.momentum)
    return keras.optimizers.Adam(cfg.learning_rate)


def train(cfg: TrainConfig, model_cfg: ModelConfig, base: BaseConfig, train_data: tf.data.Dataset,
          val_data: tf.data.Dataset | None, num_classes: int, stats: dict[str, Any],
          callbacks: list[keras.callbacks.Callback] = ()) -> keras.Model:
    """Build, compile and fit AlexNet; return the trained model."""
    keras.utils.set_random_seed(base.seed)
    augment = ([PCALighting(cfg.lighting_std, stats["eigenvalues"], stats["eigenvectors"], seed=base.seed,
                            name="pca_lighting")] if cfg.lighting_std > 0 else [])
    model = build_alexnet(num_classes, base.image_size, variant=model_cfg.variant,
                          dropout=model_cfg.dropout, init=model_cfg.init, seed=base.seed,
                          channel_mean=stats["mean"], channel_std=stats["std"], augment=augment)
    model.compile(optimizer=make_optimizer(cfg), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train_data, validation_data=val_data, epochs=cfg.epochs, callbacks=list(callbacks),
              shuffle=False, verbose=2)
    return model


def main(params: Params) -> None:
    """Train on paths.processed and write paths.model, paths.labels and paths.train_logs."""
    paths, cfg, base = params.paths, params.train, params.base
    tf.config.experimental.enable_op_determinism()
    devices = [d.name for d in tf.config.list_logical_devices() if d.device_type == "GPU"]
    log.info("training on %s", ", ".join(devices) if devices else "the CPU (no GPU visible)")
    classes = json.loads((paths.processed / CLASSES_FILE).read_text())
    stats = json.loads((paths.processed / STATS_FILE).read_text())
    sizes = {split: sum(counts.values()) for split, counts in
             json.loads((paths.processed / SPLITS_FILE).read_text()).items()}
    shards = ShardFormat.read(paths.processed)
    train_data = make_dataset(shard_files(paths.processed, "train"), shards, cfg.batch_size,
                              training=True, seed=base.seed, flip=cfg.flip,
                              num_examples=sizes["train"])
    val_data = (make_dataset(shard_files(paths.processed, "val"), shards, cfg.batch_size,
                             training=False, seed=base.seed, num_examples=sizes["val"])
                if sizes.get("val") else None)
    with (atomic.atomic_path(paths.train_logs) as logs_dir,
          Live(dir=str(logs_dir), save_dvc_exp=False, dvcyaml=None) as live):
        model = train(cfg, params.model, base, train_data, val_data, len(classes), stats,
                      callbacks=[DVCLiveCallback(live=live)])
    atomic.write_with(paths.model, model.save)
    atomic.write_json(paths.labels, classes)
    log.info("model saved to %s", paths.model)


if __name__ == "__main__":
    run_stage("train", main)
