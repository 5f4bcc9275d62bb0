"""Training across hosts: `tf.distribute.MultiWorkerMirroredStrategy`, configured by `TF_CONFIG`.

Every host runs the train stage with its own `TF_CONFIG` (the cluster's addresses and this
host's task: `tf_config`). The chief (the `chief` task, else worker 0) is the only one that writes: checkpoints,
logs and the model. A resumed run takes the chief's backup, which the chief sends to every
worker (`agree_on_progress`, `copy_from_chief`), so only the chief needs the state folder. Keras 3's
`fit` fails under this strategy (keras-team/keras#20585: it reduces a data batch eagerly, and
scalar logs along axis 0), so `fit_across_workers` runs the training step under `strategy.run`
itself, epoch by epoch, calling the same callbacks `fit` would.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import keras
import tensorflow as tf

from alexnet_pipeline.training.training_state import Stateful, restore_progress

log = logging.getLogger(__name__)


def make_strategy() -> tf.distribute.Strategy:
    """The strategy for this host's part; create it before TensorFlow touches a device, since
    collective ops are configured at start-up. It waits until every task has connected."""
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    log.info("joined a cluster of %d replicas", strategy.num_replicas_in_sync)
    return strategy


def split_by_element(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Every worker reads the same stream and takes its part of each global batch, so a step sees
    the batch a single-machine run would (the default shards files, which need not divide evenly).
    The stream must be read in a deterministic order for the parts to add up."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _from_first_replica(strategy: tf.distribute.Strategy, values) -> list[tf.Tensor]:
    """Replica 0's `values` (a list of tensors, read in each replica), on this worker. Replica 0
    is the chief's first device; the others add zeros to an all-reduce."""

    def replica_values():
        context = tf.distribute.get_replica_context()
        first = tf.equal(context.replica_id_in_sync_group, 0)
        tensors = [tf.convert_to_tensor(value) for value in values()]
        summable = [tensor if tensor.dtype.is_floating else tf.cast(tensor, tf.float64) for tensor in tensors]
        return [context.all_reduce("SUM", tf.where(first, tensor, tf.zeros_like(tensor))) for tensor in summable]

    reduced = tf.function(lambda: strategy.run(replica_values))()
    return [strategy.experimental_local_results(value)[0] for value in reduced]


def copy_from_chief(strategy: tf.distribute.Strategy, variables: Sequence[keras.Variable]) -> None:
    """Give every worker the chief's values of `variables` (after the chief alone loaded a backup)."""
    for variable, value in zip(variables, _from_first_replica(strategy, lambda: list(variables)), strict=True):
        variable.assign(tf.cast(value, variable.dtype))


def agree_on_progress(strategy: tf.distribute.Strategy, resumed: int, parts: dict[str, Stateful]) -> int:
    """Every worker takes the chief's resumed epoch and callbacks' state (numbers and flags, each
    kept in its local type); returns the epoch."""
    fields = [(name, key, value) for name, part in sorted(parts.items())
              for key, value in sorted(part.state().items())]
    numbers = [float(resumed)] + [float(value) for _, _, value in fields]
    [agreed] = _from_first_replica(strategy, lambda: [tf.constant(numbers, tf.float64)])
    epoch, *values = agreed.numpy().tolist()
    states: dict[str, dict] = {}
    for (name, key, local), value in zip(fields, values, strict=True):
        states.setdefault(name, {})[key] = type(local)(value)
    restore_progress(states, parts)
    return int(epoch)


class StepSums(NamedTuple):
    """Sums over the examples of a step; epoch figures are ratios of their totals, exact however
    a batch was split (a replica may even get no example of a short last batch)."""

    loss: tf.Tensor
    correct: tf.Tensor
    examples: tf.Tensor


def _forward(model: keras.Model, per_example_loss: keras.losses.Loss, images: tf.Tensor, labels: tf.Tensor,
             training: bool) -> tuple[tf.Tensor, tf.Tensor, StepSums]:
    """Forward one replica's examples; return their loss sum, the weight penalty and the step's
    `StepSums` (whose loss counts the penalty once per example, as Keras' `fit` reports it)."""
    probabilities = model(images, training=training)
    loss_sum = tf.reduce_sum(per_example_loss(labels, probabilities))
    examples = tf.cast(tf.shape(images)[0], tf.float32)
    penalty = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
    truth = labels if labels.shape.rank == 1 else tf.argmax(labels, axis=-1)
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probabilities, axis=-1), tf.cast(truth, tf.int64)),
                                    tf.float32))
    return loss_sum, penalty, StepSums(loss_sum + examples * penalty, correct, examples)


def _train_replica(model: keras.Model, per_example_loss: keras.losses.Loss, images: tf.Tensor,
                   labels: tf.Tensor) -> StepSums:
    """One replica's part of a training step. Its loss is its sum over the global batch size (all
    replicas' examples), so the summed gradients are one machine's however the batch was split.
    With loss scaling, gradients that overflow on any replica overflow on all of them, so every
    worker's `LossScaleOptimizer` skips the step and lowers its scale alike (it decides from its
    own replicas before the gradients are summed)."""
    context = tf.distribute.get_replica_context()
    with tf.GradientTape() as tape:
        loss_sum, penalty, sums = _forward(model, per_example_loss, images, labels, training=True)
        loss = (tf.math.divide_no_nan(loss_sum, context.all_reduce("SUM", sums.examples))
                + penalty / context.num_replicas_in_sync)
        scaled = model.optimizer.scale_loss(loss)
    gradients = tape.gradient(scaled, model.trainable_weights)
    if isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients])
        overflows = context.all_reduce("SUM", tf.cast(tf.logical_not(finite), tf.float32))
        gradients = [g + tf.cast(tf.where(overflows > 0, float("nan"), 0.0), g.dtype) for g in gradients]
    model.optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    return sums


def _step(strategy: tf.distribute.Strategy, replica_step: Callable, batch) -> tuple[StepSums, tf.Tensor]:
    """Run `replica_step` on each replica's part of `batch`; the cluster's sums, and the number of
    examples this worker's replicas had."""
    sums = strategy.run(replica_step, args=batch)
    here = tf.add_n(strategy.experimental_local_results(sums.examples))
    return StepSums(*(strategy.reduce("SUM", value, axis=None) for value in sums)), here


def _run_epoch(step: Callable, batches, hooks: keras.callbacks.CallbackList | None = None) -> tuple[dict, int]:
    """Run `step` over `batches` (an epoch's training steps, with the batch callbacks, or the whole
    val data); the epoch's loss and accuracy, and how many examples this worker had."""
    totals, here = StepSums(0.0, 0.0, 0.0), 0.0  # summed on the device: no sync per step
    for index, batch in enumerate(batches):
        if hooks:
            hooks.on_train_batch_begin(index)
        sums, examples_here = step(batch)
        totals = StepSums(*(total + value for total, value in zip(totals, sums, strict=True)))
        here += examples_here
        if hooks:
            hooks.on_train_batch_end(index)
    loss, correct, examples = (float(total) for total in totals)
    return {"loss": loss / max(examples, 1.0), "accuracy": correct / max(examples, 1.0)}, int(float(here))


def fit_across_workers(model: keras.Model, strategy: tf.distribute.Strategy, per_example_loss: keras.losses.Loss,
                       train_data: tf.data.Dataset, validation_data: tf.data.Dataset | None, *, epochs: int,
                       steps_per_epoch: int, callbacks: Sequence[keras.callbacks.Callback],
                       initial_epoch: int = 0) -> keras.callbacks.History:
    """Fit `model` (built and compiled under `strategy`) as `model.fit` would, calling the same
    callbacks with the same logs; `train_data` streams the epochs from `initial_epoch` on,
    `steps_per_epoch` batches each, every global batch split among the replicas of all workers.
    After the callbacks' `on_train_begin` (where the chief's `BackupAndRestore` loads a backup),
    every worker takes the chief's weights and optimizer state. Stops after an epoch whose loss is
    not finite or when `model.stop_training` is set."""
    train_step = tf.function(lambda batch: _step(
        strategy, lambda images, labels: _train_replica(model, per_example_loss, images, labels), batch))
    test_step = tf.function(lambda batch: _step(
        strategy, lambda images, labels: _forward(model, per_example_loss, images, labels, training=False)[2],
        batch))
    train_batches = iter(strategy.experimental_distribute_dataset(split_by_element(train_data)))
    val_batches = (strategy.experimental_distribute_dataset(split_by_element(validation_data))
                   if validation_data is not None else None)
    history = keras.callbacks.History()
    hooks = keras.callbacks.CallbackList([*callbacks, history], model=model, epochs=epochs, verbose=0)
    model.stop_training = False
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)  # its state is part of a backup
    hooks.on_train_begin()
    copy_from_chief(strategy, [*model.variables, *model.optimizer.variables])
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        logs, images_here = _run_epoch(train_step, itertools.islice(train_batches, steps_per_epoch), hooks)
        if val_batches is not None:
            logs.update({f"val_{name}": value for name, value in _run_epoch(test_step, val_batches)[0].items()})
        log.info("epoch %d/%d: this worker trained on %d images; loss %.4f", epoch + 1, epochs, images_here,
                 logs["loss"])
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training or not math.isfinite(logs["loss"]):
            break
    hooks.on_train_end()
    return history
