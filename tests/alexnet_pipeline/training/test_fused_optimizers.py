"""Fused optimizers: the same updates as Keras' Adam and SGD with momentum, one kernel each."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from alexnet_pipeline.training.fused_optimizers import FusedAdam, FusedSGD

SHAPES = [(3, 3, 3, 8), (8,), (50, 4)]


def _run(optimizer: keras.optimizers.Optimizer, steps: int = 5) -> list[np.ndarray]:
    """The variables after `steps` updates with fixed random gradients, in a tf.function."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]
    gradients = [[tf.constant(rng.normal(size=shape).astype("float32")) for shape in SHAPES] for _ in range(steps)]
    apply = tf.function(lambda grads: optimizer.apply(grads, variables))
    for grads in gradients:
        apply(grads)
    return [v.numpy() for v in variables]


@pytest.mark.parametrize(("fused", "plain"), [
    (lambda: FusedAdam(1e-2), lambda: keras.optimizers.Adam(1e-2)),
    (lambda: FusedSGD(1e-2, momentum=0.9), lambda: keras.optimizers.SGD(1e-2, momentum=0.9))])
def test_fused_updates_equal_keras_updates(fused, plain) -> None:
    start = [v.copy() for v in _run(plain(), steps=0)]
    want, got = _run(plain()), _run(fused())
    for before, expected, actual in zip(start, want, got, strict=True):
        assert not np.allclose(before, expected)  # the variables did move
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("optimizer", "kernel"), [(FusedAdam(1e-2), "ResourceApplyAdam"),
                                                   (FusedSGD(1e-2, momentum=0.9), "ResourceApplyKerasMomentum")])
def test_each_variable_is_updated_by_one_fused_kernel(optimizer, kernel: str) -> None:
    variables = [keras.Variable(np.zeros(shape, "float32")) for shape in SHAPES]
    optimizer.build(variables)
    graph = tf.function(lambda grads: optimizer.apply(grads, variables)).get_concrete_function(
        [tf.TensorSpec(shape, tf.float32) for shape in SHAPES]).graph
    ops = [op.type for op in graph.get_operations()]
    assert ops.count(kernel) == len(SHAPES)
    assert "AssignAddVariableOp" not in ops or ops.count("AssignAddVariableOp") == 1  # the step counter alone


def test_a_model_compiled_with_fused_adam_saves_and_loads(tmp_path) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=FusedAdam(1e-3), loss="mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, FusedAdam) and int(loaded.optimizer.iterations) == 1
