"""multi_worker: reading TF_CONFIG, and the training loop against Keras' `fit` on uneven splits.
(Two worker processes on 127.0.0.1 run the train stage in tests/stages/test_train.py.)"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.multi_worker import WorkerCluster, cluster_from_env
from tests.helpers import REPO_ROOT, run_command


def _tf_config(cluster: dict, task_type: str = "worker", index: int = 0) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


@pytest.mark.parametrize("environ", [{}, {"TF_CONFIG": "  "}, _tf_config({"worker": ["a:1"]})])
def test_no_cluster_or_a_single_task_trains_on_this_machine(environ: dict[str, str]) -> None:
    assert cluster_from_env(environ) is None


def test_workers_only_make_worker_0_the_chief() -> None:
    cluster = {"worker": ["a:1", "b:1", "c:1"]}
    assert cluster_from_env(_tf_config(cluster, index=0)) == WorkerCluster(3, "worker", 0, has_chief_task=False)
    second = cluster_from_env(_tf_config(cluster, index=1))
    assert cluster_from_env(_tf_config(cluster, index=0)).is_chief
    assert not second.is_chief and second.rank == 1 and second.size == 3


def test_a_chief_task_is_the_chief_and_workers_rank_after_it() -> None:
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    chief = cluster_from_env(_tf_config(cluster, "chief", 0))
    worker = cluster_from_env(_tf_config(cluster, "worker", 0))
    assert chief.is_chief and chief.rank == 0 and chief.size == 3
    assert not worker.is_chief and worker.rank == 1


@pytest.mark.parametrize(("raw", "expected"), [
    ("{not json", "is not valid JSON"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:1"]}}), "needs a `cluster` and a `task`"),
    (json.dumps({"cluster": {"worker": ["a:1"], "ps": ["p:1"]}, "task": {"type": "ps", "index": 0}}),
     "training uses only `chief` and `worker`"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}),
     "which is not in its cluster"),
    (json.dumps({"cluster": {"worker": "a:1,b:1"}, "task": {"type": "worker", "index": 0}}),
     "must list addresses under `worker`"),
])
def test_a_bad_tf_config_is_a_clear_error(raw: str, expected: str) -> None:
    with pytest.raises(PipelineError, match="TF_CONFIG") as error:
        cluster_from_env({"TF_CONFIG": raw})
    assert expected in str(error.value) and "unset it to train on this machine only" in str(error.value)


# Two replicas in one process (two logical CPUs), 5 examples in batches of 2: the last batch has one
# example, so one replica gets none. The loop must still give `fit`'s weights and epoch figures.
UNEVEN_SPLIT = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from alexnet_pipeline.multi_worker import fit_across_workers

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
    completed = run_command([sys.executable, "-c", UNEVEN_SPLIT], REPO_ROOT)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(result["got"][name], result["expected"][name], atol=1e-5, err_msg=name)
    for fitted, looped in zip(*result["weights"], strict=True):
        np.testing.assert_allclose(looped, fitted, atol=1e-5)
    assert result["expected"]["loss"][0] != pytest.approx(result["expected"]["loss"][2])  # it did learn
