"""Building and fitting AlexNet: the compiled model with its input layers, the loss, the fit on
one device, several GPUs or several workers, and the float32 inference copy that is saved."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from alexnet_pipeline.config import BaseConfig, ModelConfig, TrainConfig
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.training import multi_worker, recipes
from alexnet_pipeline.training.lighting import PCALighting
from alexnet_pipeline.training.model import build_alexnet


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


def fit_alexnet(cfg: TrainConfig, model_cfg: ModelConfig, base: BaseConfig, train_data: tf.data.Dataset,
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
