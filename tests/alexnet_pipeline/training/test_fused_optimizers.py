"""Fused optimizers: the same updates as Keras' Adam and SGD with momentum, one kernel each; and
Keras' own update, with a warning, where a Keras release no longer keeps the optimizer's state
where the fused update reads it.

On a Keras upgrade (pyproject.toml bounds keras below the next minor release), these tests say
whether the private state the fused update reads is still there:
test_the_private_state_the_fused_update_reads_is_where_keras_keeps_it names it, and
test_each_variable_is_updated_by_one_fused_kernel shows the fused path ran. If they fail, read
keras/src/optimizers/adam.py and sgd.py (`build`, `update_step`) of the new release and move
FusedAdam.SLOTS, FusedSGD.SLOTS or fused_optimizers.VARIABLE_INDEX to where the state went.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from alexnet_pipeline.training.fused_optimizers import (
    VARIABLE_INDEX,
    FusedAdam,
    FusedSGD,
    private_slots_missing,
)

SHAPES = [(3, 3, 3, 8), (8,), (50, 4)]


def _update_ops(optimizer: keras.optimizers.Optimizer) -> list[str]:
    """The op types of one traced `apply` of `optimizer` to variables of SHAPES."""
    variables = [keras.Variable(np.zeros(shape, "float32")) for shape in SHAPES]
    optimizer.build(variables)
    graph = tf.function(lambda grads: optimizer.apply(grads, variables)).get_concrete_function(
        [tf.TensorSpec(shape, tf.float32) for shape in SHAPES]).graph
    return [op.type for op in graph.get_operations()]


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
    ops = _update_ops(optimizer)
    assert ops.count(kernel) == len(SHAPES)
    assert "AssignAddVariableOp" not in ops or ops.count("AssignAddVariableOp") == 1  # the step counter alone


def test_a_model_compiled_with_fused_adam_saves_and_loads(tmp_path) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=FusedAdam(1e-3), loss="mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, FusedAdam) and int(loaded.optimizer.iterations) == 1


@pytest.mark.parametrize(("optimizer", "slots"), [
    (FusedAdam(1e-2), {"_momentums": "momentum", "_velocities": "velocity"}),
    (FusedSGD(1e-2, momentum=0.9), {"momentums": "momentum"})])
def test_the_private_state_the_fused_update_reads_is_where_keras_keeps_it(optimizer, slots) -> None:
    """What to check on a Keras upgrade: after `build`, each slot list holds, in the model
    variables' order, one zero-filled variable of the right kind per model variable, of its
    shape, and `_get_variable_index` finds each model variable's place."""
    assert tuple(slots) == optimizer.SLOTS
    variables = [keras.Variable(np.ones(shape, "float32")) for shape in SHAPES]
    optimizer.build(variables)
    assert private_slots_missing(optimizer, optimizer.SLOTS, variables) is None and optimizer.fused
    index_of = getattr(optimizer, VARIABLE_INDEX)
    assert [index_of(variable) for variable in variables] == list(range(len(SHAPES)))
    for name, slot_name in slots.items():
        for variable, slot in zip(variables, getattr(optimizer, name), strict=True):
            assert isinstance(slot, keras.Variable)
            # the slot of this variable, of this kind
            assert slot.path == f"{optimizer.name}/{variable.name}_{slot_name}"
            assert tuple(slot.shape) == tuple(variable.shape) and not np.any(slot.numpy())


class _LaterKeras:
    """Stands for a later Keras release whose optimizer keeps its state elsewhere: after `build`,
    the attributes named in MOVED are gone (a method is masked by None), and only the optimizer's
    own update, which knows where the state went, finds them."""

    MOVED: tuple[str, ...] = ()

    def build(self, variables):
        super().build(variables)
        self.__dict__["moved"] = {name: self.__dict__.pop(name, None) for name in self.MOVED}
        self._hide()

    def _hide(self) -> None:
        for name, value in self.moved.items():
            self.__dict__.pop(name, None)
            if value is None:  # a method of the class
                self.__dict__[name] = None

    def update_step(self, gradient, variable, learning_rate):
        for name, value in self.moved.items():
            self.__dict__.pop(name, None)
            if value is not None:
                self.__dict__[name] = value
        try:
            return super().update_step(gradient, variable, learning_rate)
        finally:
            self._hide()


class _LaterAdam(_LaterKeras, keras.optimizers.Adam):
    MOVED = ("_momentums", "_velocities")


class _LaterSGD(_LaterKeras, keras.optimizers.SGD):
    MOVED = ("momentums",)


class _LaterIndexAdam(_LaterKeras, keras.optimizers.Adam):
    MOVED = (VARIABLE_INDEX,)


class _FusedAdamOnLaterKeras(FusedAdam, _LaterAdam):
    pass


class _FusedSGDOnLaterKeras(FusedSGD, _LaterSGD):
    pass


class _FusedAdamOnLaterIndex(FusedAdam, _LaterIndexAdam):
    pass


@pytest.mark.parametrize(("fused", "plain", "kernel", "missing"), [
    (lambda: _FusedAdamOnLaterKeras(1e-2, name="adam_on_later_keras"),
     lambda: keras.optimizers.Adam(1e-2), "ResourceApplyAdam",
     "no list `_momentums`"),
    (lambda: _FusedSGDOnLaterKeras(1e-2, momentum=0.9, name="sgd_on_later_keras"),
     lambda: keras.optimizers.SGD(1e-2, momentum=0.9),
     "ResourceApplyKerasMomentum", "no list `momentums`"),
    (lambda: _FusedAdamOnLaterIndex(1e-2, name="adam_on_later_index"),
     lambda: keras.optimizers.Adam(1e-2), "ResourceApplyAdam",
     "no method `_get_variable_index`")])
def test_without_the_private_state_keras_own_update_runs_with_a_warning(
        fused, plain, kernel: str, missing: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="alexnet_pipeline.training.fused_optimizers"):
        ops = _update_ops(fused())
    assert kernel not in ops
    [warning] = caplog.records
    assert missing in warning.getMessage() and "Keras' own (slower) update" in warning.getMessage()

    want, got = _run(plain()), _run(fused())
    for expected, actual in zip(want, got, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)
