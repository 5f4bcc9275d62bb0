"""train: fit AlexNet on the train shards, validating on val; save the last and the best model.

The recipe (`train.recipe`), precision (`train.mixed_precision`) and devices (every visible GPU,
the global batch split among them) come from params; with a `TF_CONFIG` cluster, every host runs
this stage and the global batch is split among all their replicas (`multi_worker`), while only the
chief writes. An interrupted single-machine run resumes from its last finished epoch: its state
lives in `paths.train_state`, which DVC does not delete. Per-epoch metrics go to dvclive and
TensorBoard under `paths.train_logs`, with `summary.json`. Models are written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from alexnet_pipeline.config import BaseConfig, ModelConfig, Params, PathsConfig, TrainConfig
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import (
    CLASSES_FILE,
    MODEL_SUMMARY_FILE,
    SHARDS_FILE,
    SPLITS_FILE,
    STATS_FILE,
    TRAIN_SUMMARY_FILE,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.input.reader import make_dataset, steps_per_epoch
from alexnet_pipeline.input.tfrecords import ShardFormat, shard_files
from alexnet_pipeline.training import (
    devices,
    fused_optimizers,
    lighting,
    multi_worker,
    recipes,
    tf_config,
)
from alexnet_pipeline.training import model as model_module
from alexnet_pipeline.training.lighting import PCALighting
from alexnet_pipeline.training.model import build_alexnet, describe, load_model
from alexnet_pipeline.training.training_state import (
    BestCheckpoint,
    RunState,
    StateBackup,
    Throughput,
    fingerprint,
    restore_progress,
)

log = logging.getLogger(__name__)
MODEL_CODE = (model_module, lighting, recipes, fused_optimizers)  # a resumed run must have been built by the same code


def build_model(cfg: TrainConfig, model_cfg: ModelConfig, base: BaseConfig, num_classes: int,
                stats: dict[str, Any], inference: bool = False) -> keras.Model:
    """AlexNet with its input normalization and the paper's PCA lighting, compiled with the
    recipe's optimizer and loss; with `inference`, the uncompiled portable model the stage saves
    (no lighting, Keras' own layers and ops only)."""
    augment = ([PCALighting(cfg.lighting_std, stats["eigenvalues"], stats["eigenvectors"], seed=base.seed,
                            name="pca_lighting")] if cfg.lighting_std > 0 and not inference else [])
    model = build_alexnet(num_classes, base.image_size, variant=model_cfg.variant,
                          dropout=model_cfg.dropout, init=model_cfg.init, seed=base.seed,
                          channel_mean=stats["mean"], channel_std=stats["std"], augment=augment,
                          weight_decay=cfg.weight_decay, portable=inference)
    if inference:
        return model
    model.compile(optimizer=recipes.make_optimizer(cfg), loss=cross_entropy(cfg), metrics=["accuracy"],
                  jit_compile=cfg.jit_compile)
    return model


def cross_entropy(cfg: TrainConfig, reduction: str | None = "sum_over_batch_size") -> keras.losses.Loss:
    """The training loss; with label smoothing it takes one-hot targets (`one_hot_labels`)."""
    if cfg.label_smoothing:
        return keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing, reduction=reduction)
    return keras.losses.SparseCategoricalCrossentropy(reduction=reduction)


def one_hot_labels(dataset: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """Label smoothing needs one-hot targets (Keras' sparse loss has no smoothing)."""
    return dataset.map(lambda images, labels: (images, tf.one_hot(labels, num_classes)))


def train(cfg: TrainConfig, model_cfg: ModelConfig, base: BaseConfig, train_data: tf.data.Dataset,
          val_data: tf.data.Dataset | None, num_classes: int, stats: dict[str, Any], *,
          steps_per_epoch: int | None = None, strategy: tf.distribute.Strategy | None = None,
          callbacks: list[keras.callbacks.Callback] = (), initial_epoch: int = 0) -> keras.Model:
    """Build, compile and fit AlexNet (under `strategy`, if given) on `train_data`'s epochs
    (`steps_per_epoch` batches each, or all of it as one epoch) from `initial_epoch` on; return
    the trained model. Across workers, `multi_worker` fits it, since Keras' `fit` cannot."""
    keras.utils.set_random_seed(base.seed)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = build_model(cfg, model_cfg, base, num_classes, stats)
    if cfg.label_smoothing:
        train_data = one_hot_labels(train_data, num_classes)
        val_data = one_hot_labels(val_data, num_classes) if val_data is not None else None
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        history = multi_worker.fit_across_workers(model, strategy, cross_entropy(cfg, reduction=None), train_data,
                                                  val_data, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
                                                  callbacks=callbacks, initial_epoch=initial_epoch)
    else:
        history = model.fit(train_data, validation_data=val_data, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch,
                            initial_epoch=initial_epoch,
                            callbacks=[keras.callbacks.TerminateOnNaN(), *callbacks], shuffle=False,
                            verbose=1 if sys.stdout.isatty() else 2)
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise PipelineError(f"the training loss became {losses[-1]} (diverged) in epoch {len(losses)} of this "
                            f"run; lower `train.learning_rate` ({cfg.learning_rate}) or try another recipe")
    return model


def inference_copy(model: keras.Model, build_inference: Callable[[], keras.Model]) -> keras.Model:
    """The trained weights in the model users get: float32 (mixed precision keeps its variables in
    float32), without training-only layers (PCA lighting) and made of Keras' own layers and ops,
    so that plain Keras loads it and evaluation, prediction and serving run in full precision on any
    device. `build_inference` makes the empty model; weights are copied layer by layer, by name."""
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        copy = build_inference()
    finally:
        keras.mixed_precision.set_global_policy(policy)
    for layer in copy.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return copy


def split_sizes(processed: Path) -> dict[str, int]:
    """Images per split (from splits.json, which counts them per class)."""
    return {split: sum(counts.values()) for split, counts in
            json.loads((processed / SPLITS_FILE).read_text()).items()}


def datasets(processed: Path, cfg: TrainConfig, seed: int, first_epoch: int = 0,
             across_workers: bool = False) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """The train data from epoch `first_epoch` (from 0) on, and the val data (None without a val
    split). At least one epoch is streamed, so a finished run's dataset is never empty. Across
    workers the order is always deterministic: each worker keeps its share of the same stream."""
    in_order = cfg.deterministic or across_workers
    sizes = split_sizes(processed)
    shards = ShardFormat.read(processed)
    train_data = make_dataset(shard_files(processed, "train"), shards, cfg.batch_size, training=True, seed=seed,
                              flip=cfg.flip, num_examples=sizes["train"], deterministic=in_order,
                              epochs=(first_epoch, max(cfg.epochs, first_epoch + 1)))
    val_data = (make_dataset(shard_files(processed, "val"), shards, cfg.batch_size, training=False, seed=seed,
                             num_examples=sizes["val"], deterministic=in_order)
                if sizes.get("val") else None)
    return train_data, val_data


def resume(state: RunState, resumed: int, cfg: TrainConfig, parts: dict[str, Any]) -> TrainConfig:
    """Bring the callbacks and logs back to the interrupted run's last finished epoch; return the
    config to fit with (see `epochs_left`)."""
    log.info("resuming the interrupted run from epoch %d of %d (state in %s)", resumed, cfg.epochs, state.folder)
    restore_progress(state.callbacks_state(resumed), parts)
    state.trim_logs(resumed)
    left = epochs_left(cfg, resumed, parts["best"])
    if left.epochs == resumed:
        log.info("that run had finished training (%s): saving its results",
                 "stopped early" if parts["best"].stopped_early else f"{resumed} epochs")
    return left


def epochs_left(cfg: TrainConfig, resumed: int, best: BestCheckpoint) -> TrainConfig:
    """The config to fit a run resumed at epoch `resumed` with: no epochs left when it had already
    finished training (all its epochs, or stopped early)."""
    if resumed and (best.stopped_early or resumed >= cfg.epochs):
        return dataclasses.replace(cfg, epochs=resumed)
    return cfg


def save_outputs(paths: PathsConfig, state: RunState, model: keras.Model, summary: dict[str, Any],
                 classes: list[str], build_inference: Callable[[], keras.Model]) -> None:
    """Write the stage's outputs, each atomically, from the finished run; then drop its state.
    Both models are saved as `inference_copy`s, whatever the training precision."""
    atomic.write_json(state.logs / TRAIN_SUMMARY_FILE, summary)
    atomic.write_json(state.logs / MODEL_SUMMARY_FILE, describe(model))
    atomic.write_with(paths.model, inference_copy(model, build_inference).save)
    best = load_model(state.best_model) if state.best_model.exists() else model  # else no finite loss
    atomic.write_with(paths.best_model, inference_copy(best, build_inference).save)
    atomic.write_json(paths.labels, classes)
    with atomic.atomic_path(paths.train_logs) as logs_dir:
        shutil.move(state.logs, logs_dir)
    state.finish()


def follow_chief(cfg: TrainConfig, params: Params, cluster: tf_config.WorkerCluster,
                 strategy: tf.distribute.Strategy, classes: list[str], stats: dict[str, Any]) -> None:
    """A worker other than the chief: train its part of every step and write nothing. It starts
    from the chief's epoch, weights and callbacks' state (the chief alone keeps a backup) and takes
    the same learning-rate and early-stopping decisions (both follow the cluster-wide val loss)."""
    steps = steps_per_epoch(split_sizes(params.paths.processed)["train"], cfg.batch_size)
    parts = {"learning_rate": recipes.LearningRateControl(cfg, steps),
             "best": BestCheckpoint(None, cfg.early_stopping_patience)}
    resumed = multi_worker.agree_on_progress(strategy, 0, parts)
    cfg = epochs_left(cfg, resumed, parts["best"])
    train_data, val_data = datasets(params.paths.processed, cfg, params.base.seed, first_epoch=resumed,
                                    across_workers=True)
    train(cfg, params.model, params.base, train_data, val_data, len(classes), stats, steps_per_epoch=steps,
          strategy=strategy, initial_epoch=resumed, callbacks=list(parts.values()))
    log.info("worker %d of %d done; the chief writes the model and the logs", cluster.rank, cluster.size)


def main(params: Params) -> None:
    """Train on paths.processed; write paths.model, best_model, labels and train_logs (the chief
    of a `TF_CONFIG` cluster writes; the other workers only train)."""
    cluster = tf_config.cluster_from_env()
    if cluster and not cluster.is_chief:
        tf_config.wait_for_chief(cluster, params.cluster.chief_wait_s)
    strategy = multi_worker.make_strategy() if cluster else None  # before any other TensorFlow op
    paths, base = params.paths, params.base
    cfg = recipes.effective(params.train)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = devices.visible_gpus()
    precision = devices.choose_precision(cfg.mixed_precision, devices.detect_hardware())
    policy = precision.policy
    keras.mixed_precision.set_global_policy(policy)
    strategy = strategy or devices.strategy_for(gpus)
    log.info("training on %s, %s (%s), %d replica(s)%s", ", ".join(gpus) if gpus else "the CPU (no GPU visible)",
             policy, precision.reason, strategy.num_replicas_in_sync,
             f" across {cluster.size} workers (this is worker {cluster.rank})" if cluster else "")
    classes = json.loads((paths.processed / CLASSES_FILE).read_text())
    stats = json.loads((paths.processed / STATS_FILE).read_text())
    if cluster and not cluster.is_chief:
        follow_chief(cfg, params, cluster, strategy, classes, stats)
        return
    workers = cluster.size if cluster else 1
    settings = {"base": asdict(base), "model": asdict(params.model), "policy": policy,
                "replicas": strategy.num_replicas_in_sync, "workers": workers,
                "train": {k: v for k, v in asdict(cfg).items() if k not in ("epochs", "early_stopping_patience")}}
    state = RunState.open(paths.train_state, fingerprint(settings, [
        *(paths.processed / name for name in (CLASSES_FILE, STATS_FILE, SPLITS_FILE, SHARDS_FILE)),
        *(Path(module.__file__) for module in MODEL_CODE)]))
    images = split_sizes(paths.processed)["train"]
    steps = steps_per_epoch(images, cfg.batch_size)
    lr_control = recipes.LearningRateControl(cfg, steps)
    best = BestCheckpoint(state.best_model, cfg.early_stopping_patience)
    parts = {"learning_rate": lr_control, "best": best}
    resumed = state.resumed_epoch()
    if resumed:
        cfg = resume(state, resumed, cfg, parts)
    if cluster:
        multi_worker.agree_on_progress(strategy, resumed, parts)
    train_data, val_data = datasets(paths.processed, cfg, base.seed, first_epoch=resumed,
                                    across_workers=bool(cluster))
    throughput = Throughput()
    start = time.perf_counter()
    with Live(dir=str(state.logs), resume=bool(resumed), save_dvc_exp=False, dvcyaml=None) as live:
        live.step = resumed
        callbacks = [lr_control, best, throughput, DVCLiveCallback(live=live),
                     keras.callbacks.TensorBoard(str(state.logs / "tensorboard"))]
        model = train(cfg, params.model, base, train_data, val_data, len(classes), stats, steps_per_epoch=steps,
                      strategy=strategy, callbacks=[*callbacks, StateBackup(state, parts)], initial_epoch=resumed)
    summary = {
        "recipe": cfg.recipe, "epochs": params.train.epochs, "epochs_run": resumed + throughput.epochs,
        "resumed_from_epoch": resumed, "stopped_early": best.stopped_early, "best_epoch": best.best_epoch,
        "best_loss": round(best.best, 6) if math.isfinite(best.best) else None,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "images_per_s": round(images * throughput.epochs / max(throughput.seconds, 1e-9), 1),
        "devices": gpus or ["CPU"], "replicas": strategy.num_replicas_in_sync, "workers": workers,
        "precision": policy, "precision_reason": precision.reason, "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
        "optimizer": cfg.optimizer,
    }
    log.info("training summary: %s", json.dumps(summary))

    save_outputs(paths, state, model, summary, classes,
                 build_inference=lambda: build_model(cfg, params.model, base, len(classes), stats, inference=True))
    log.info("model saved to %s, the best epoch's (%d) to %s", paths.model, best.best_epoch, paths.best_model)


if __name__ == "__main__":
    run_stage("train", main)
