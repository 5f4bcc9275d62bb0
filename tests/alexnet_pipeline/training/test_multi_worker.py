"""multi_worker: the training loop against Keras' `fit` on uneven splits, and loss scaling that
overflows on one replica only. (Two worker processes on 127.0.0.1 run the train stage, killed and
resumed, in tests/stages/test_train.py.)"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tests.helpers import REPO_ROOT, run

# Two replicas in one process (two logical CPUs), 5 examples in batches of 2: the last batch has one
# example, so one replica gets none. The loop must still give `fit`'s weights and epoch figures.
UNEVEN_SPLIT = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from alexnet_pipeline.training.multi_worker import fit_across_workers

images = tf.random.stateless_normal((5, 3), seed=(1, 2))
labels = tf.constant([0, 1, 1, 0, 1])
data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)

def model():
    keras.utils.set_random_seed(7)
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu",
                            kernel_regularizer=keras.regularizers.L2(0.01)), keras.layers.Dense(2, activation="softmax")])
    net.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return net

reference = model()
expected = reference.fit(data, validation_data=data, epochs=3, verbose=0).history
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    split = model()
got = fit_across_workers(split, strategy, keras.losses.SparseCategoricalCrossentropy(reduction=None), data.repeat(3),
                         data, epochs=3, steps_per_epoch=3, callbacks=[]).history
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "expected": expected, "got": got,
                  "weights": [[w.tolist() for w in m.get_weights()] for m in (reference, split)]}))
"""


def test_uneven_and_empty_replica_batches_train_as_fit_does() -> None:
    completed = run([sys.executable, "-c", UNEVEN_SPLIT], REPO_ROOT, check=False)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(result["got"][name], result["expected"][name], atol=1e-5, err_msg=name)
    for fitted, looped in zip(*result["weights"], strict=True):
        np.testing.assert_allclose(looped, fitted, atol=1e-5)
    assert result["expected"]["loss"][0] != pytest.approx(result["expected"]["loss"][2])  # it did learn


# fp16 with loss scaling, two replicas, one example each: the second overflows (inf logits). Each
# worker's LossScaleOptimizer decides from its own first replica before the gradients are summed;
# the loop must make every replica skip the step, or the summed NaNs reach the weights (and
# across hosts the workers would take different branches and hang).
OVERFLOW_ON_ONE_REPLICA = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from alexnet_pipeline.training.multi_worker import fit_across_workers

keras.mixed_precision.set_global_policy("mixed_float16")
data = tf.data.Dataset.from_tensor_slices(([[1.0, 1.0, 1.0], [6e4, 6e4, 6e4]], [0, 1])).batch(2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="ones"),
                              keras.layers.Activation("softmax", dtype="float32")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
before = [w.tolist() for w in model.get_weights()]
scale = float(model.optimizer.initial_scale)
fit_across_workers(model, strategy, keras.losses.SparseCategoricalCrossentropy(reduction=None), data, None,
                   epochs=1, steps_per_epoch=1, callbacks=[])
print(json.dumps({"optimizer": type(model.optimizer).__name__, "before": before,
                  "after": [w.tolist() for w in model.get_weights()],
                  "scale": [scale, float(model.optimizer.dynamic_scale.numpy())]}))
"""


def test_an_overflow_on_one_replica_skips_the_step_on_every_replica() -> None:
    completed = run([sys.executable, "-c", OVERFLOW_ON_ONE_REPLICA], REPO_ROOT, check=False)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["optimizer"] == "LossScaleOptimizer"
    for before, after in zip(result["before"], result["after"], strict=True):
        np.testing.assert_array_equal(after, before)  # skipped: nothing of the NaN reached the weights
    assert result["scale"][1] == result["scale"][0] / 2  # and the loss scale came down, as on one device
