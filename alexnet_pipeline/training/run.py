"""One training run of the train stage: its datasets, resuming an interrupted run, the chief's
fit with its callbacks and logs, the other workers' share, and the outputs written atomically.

An interrupted single-machine run resumes from its last finished epoch: its state lives in
`paths.train_state`, which DVC does not delete.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from alexnet_pipeline.config import Params, PathsConfig, TrainConfig
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import (
    CLASSES_FILE,
    MODEL_SUMMARY_FILE,
    SHARDS_FILE,
    SPLITS_FILE,
    STATS_FILE,
    TRAIN_SUMMARY_FILE,
)
from alexnet_pipeline.core.contracts import (
    ClassNames,
    ModelSummary,
    SplitCounts,
    TrainSummary,
    read_contract,
    write_contract,
)
from alexnet_pipeline.errors import ConfigError
from alexnet_pipeline.input import data_service
from alexnet_pipeline.input.cache_budget import CacheChoice, available_memory, choose_cache
from alexnet_pipeline.input.decoded_cache import DecodedCache, decode_split
from alexnet_pipeline.input.reader import make_dataset, steps_per_epoch
from alexnet_pipeline.input.tfrecords import ShardFormat, shard_files
from alexnet_pipeline.training import fused_optimizers, lighting, multi_worker, recipes, tf_config
from alexnet_pipeline.training import model as model_module
from alexnet_pipeline.training.devices import Precision
from alexnet_pipeline.training.fitting import build_model, fit_alexnet, inference_copy
from alexnet_pipeline.training.model import describe, load_model
from alexnet_pipeline.training.training_state import (
    BestCheckpoint,
    RunState,
    StateBackup,
    Throughput,
    restore_progress,
    run_fingerprint,
)

log = logging.getLogger(__name__)


MODEL_CODE = (model_module, lighting, recipes, fused_optimizers)  # a resumed run must have been built by the same code
# Settings a resumed run may change: they change no weight (cached and streamed input give the same batches).
NOT_FINGERPRINTED = ("epochs", "early_stopping_patience", "cache", "cache_memory_share", "data_service")


def split_sizes(processed: Path) -> dict[str, int]:
    """Images per split (from splits.json, which counts them per class)."""
    return {split: sum(counts.values()) for split, counts in
            read_contract(SplitCounts, processed / SPLITS_FILE).root.items()}


def input_cache(processed: Path, cfg: TrainConfig) -> tuple[CacheChoice, DecodedCache | None]:
    """Whether the train split is decoded once into memory (`train.cache`, `cache_budget`), logged
    with the reason; and the decoded split when it is. Each worker of a cluster decides for its own
    host and holds its own copy: the batches are the same either way."""
    if cfg.data_service:
        choice = CacheChoice("off", f"train.data_service: the workers at {cfg.data_service} make the batches; a "
                                    "cache would live only in this process")
        log.info("train input: made by tf.data service workers, not cached (%s)", choice.reason)
        return choice, None
    images = split_sizes(processed)["train"]
    shards = ShardFormat.read(processed)
    choice = choose_cache(cfg.cache, images, shards.stored_size, cfg.cache_memory_share,
                          available_memory() if cfg.cache != "off" else None)
    log.info("train input: %s (%s)", "decoded once into memory" if choice.mode == "memory"
             else "streamed, each epoch decoding its crops", choice.reason)
    cache = decode_split(shard_files(processed, "train"), shards, images) if choice.mode == "memory" else None
    return choice, cache


def training_datasets(processed: Path, cfg: TrainConfig, seed: int, first_epoch: int = 0,
             across_workers: bool = False,
             cache: DecodedCache | None = None) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """The train data from epoch `first_epoch` (from 0) on, cropped from `cache` when given (see
    `input_cache`), and the val data (None without a val split). At least one epoch is streamed,
    so a finished run's dataset is never empty. Across workers the order is always deterministic:
    each worker keeps its share of the same stream."""
    in_order = cfg.deterministic or across_workers
    sizes = split_sizes(processed)
    shards = ShardFormat.read(processed)
    epochs = (first_epoch, max(cfg.epochs, first_epoch + 1))
    address = data_service.service_address(cfg.data_service)
    files = shard_files(processed, "train")
    if address is not None:  # the workers open the files the graph names: not relative to this folder
        files = [str(Path(name).resolve()) for name in files]
    train_data = make_dataset(files, shards, cfg.batch_size, training=True, seed=seed,
                              flip=cfg.flip, num_examples=sizes["train"], deterministic=in_order,
                              epochs=epochs, cache=cache, stream_length_checked=address is None)
    if address is not None:
        if across_workers:
            raise ConfigError("train.data_service cannot serve training across hosts (TF_CONFIG): each worker keeps "
                              'its share of one ordered stream; set train.data_service: "" or train on one host')
        batches = len(range(*epochs)) * steps_per_epoch(sizes["train"], cfg.batch_size)
        train_data = data_service.distribute(train_data, address, batches=batches)
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
        return cfg.model_copy(update={"epochs": resumed})
    return cfg


def save_outputs(paths: PathsConfig, state: RunState, model: keras.Model, summary: dict[str, Any],
                 classes: list[str], build_inference: Callable[[], keras.Model]) -> None:
    """Write the stage's outputs, each atomically, from the finished run; then drop its state.
    Both models are saved as `inference_copy`s, whatever the training precision."""
    write_contract(state.logs / TRAIN_SUMMARY_FILE, TrainSummary, summary)
    write_contract(state.logs / MODEL_SUMMARY_FILE, ModelSummary, describe(model))
    atomic.write_with(paths.model, inference_copy(model, build_inference).save)
    best = load_model(state.best_model) if state.best_model.exists() else model  # else no finite loss
    atomic.write_with(paths.best_model, inference_copy(best, build_inference).save)
    write_contract(paths.labels, ClassNames, classes)
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
    _, cache = input_cache(params.paths.processed, cfg)
    train_data, val_data = training_datasets(params.paths.processed, cfg, params.base.seed, first_epoch=resumed,
                                             across_workers=True, cache=cache)
    fit_alexnet(cfg, params.model, params.base, train_data, val_data, len(classes), stats, steps_per_epoch=steps,
          strategy=strategy, initial_epoch=resumed, callbacks=list(parts.values()))
    log.info("worker %d of %d done; the chief writes the model and the logs", cluster.rank, cluster.size)


def train_as_chief(params: Params, cfg: TrainConfig, strategy: tf.distribute.Strategy, precision: Precision,
                   gpus: list[str], cluster: tf_config.WorkerCluster | None, classes: list[str],
                   stats: dict[str, Any]) -> None:
    """Train (resuming an interrupted run of the same settings and code), log every epoch to
    dvclive and TensorBoard, and write the models, labels and logs with `summary.json`."""
    paths, base = params.paths, params.base
    workers = cluster.size if cluster else 1
    settings = {"base": base.model_dump(), "model": params.model.model_dump(), "policy": precision.policy,
                "replicas": strategy.num_replicas_in_sync, "workers": workers,
                "train": {k: v for k, v in cfg.model_dump().items() if k not in NOT_FINGERPRINTED}}
    state = RunState.open(paths.train_state, run_fingerprint(settings, [
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
    cache_choice, cache = input_cache(paths.processed, cfg)
    train_data, val_data = training_datasets(paths.processed, cfg, base.seed, first_epoch=resumed,
                                             across_workers=bool(cluster), cache=cache)
    throughput = Throughput()
    start = time.perf_counter()
    with Live(dir=str(state.logs), resume=bool(resumed), save_dvc_exp=False, dvcyaml=None) as live:
        live.step = resumed
        callbacks = [lr_control, best, throughput, DVCLiveCallback(live=live),
                     keras.callbacks.TensorBoard(str(state.logs / "tensorboard"))]
        model = fit_alexnet(cfg, params.model, base, train_data, val_data, len(classes), stats,
                            steps_per_epoch=steps, strategy=strategy,
                            callbacks=[*callbacks, StateBackup(state, parts)], initial_epoch=resumed)
    summary = {
        "recipe": cfg.recipe, "epochs": params.train.epochs, "epochs_run": resumed + throughput.epochs,
        "resumed_from_epoch": resumed, "stopped_early": best.stopped_early, "best_epoch": best.best_epoch,
        "best_loss": round(best.best, 6) if math.isfinite(best.best) else None,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "images_per_s": round(images * throughput.epochs / max(throughput.seconds, 1e-9), 1),
        "devices": gpus or ["CPU"], "replicas": strategy.num_replicas_in_sync, "workers": workers,
        "precision": precision.policy, "precision_reason": precision.reason, "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate, "optimizer": cfg.optimizer,
        "input_cache": cache_choice.mode, "input_cache_reason": cache_choice.reason,
    }
    log.info("training summary: %s", json.dumps(summary))
    save_outputs(paths, state, model, summary, classes,
                 build_inference=lambda: build_model(cfg, params.model, base, len(classes), stats, inference=True))
    log.info("model saved to %s, the best epoch's (%d) to %s", paths.model, best.best_epoch, paths.best_model)
