"""Adam and SGD with momentum that update each variable with one fused TensorFlow kernel.

Keras 3 updates a variable with about ten element-wise ops, each a pass over it; AlexNet has 58M
weights, so on a CPU that is a fixed cost of every step: 0.179 s against 0.050 s for TensorFlow's
fused `ResourceApplyAdam` (`benchmarks/train_throughput.py --optimizer-only`). It weighs most when
the rest of the step gets faster, as in bfloat16. The formulas are Keras' own, so only float
rounding differs. On other backends, and for sparse gradients or AMSGrad, Keras' own update runs.

The kernels need each variable's slots (Adam's moments, SGD's momentum), and Keras 3 has no public
way to reach them: they are the lists its `build` makes (Adam's private `_momentums` and
`_velocities`, SGD's `momentums`), indexed through the private `_get_variable_index`, the one that
maps a distribution strategy's replica variable to its slot. `build` checks that they are there,
one slot per variable; if a Keras release moves them, it logs a warning and Keras' own (slower,
equally correct) update runs. tests/alexnet_pipeline/training/test_fused_optimizers.py names what
to check on a Keras upgrade.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import keras

log = logging.getLogger(__name__)
VARIABLE_INDEX = "_get_variable_index"


def private_slots_missing(optimizer: keras.optimizers.Optimizer, slots: Sequence[str],
                          variables: Sequence[object]) -> str | None:
    """What is missing of the private state the fused update reads, after `build(variables)`:
    None when `optimizer` has the method `_get_variable_index` and, for each name in `slots`, a
    list of one slot per variable; else a description for the warning."""
    if not callable(getattr(optimizer, VARIABLE_INDEX, None)):
        return f"no method `{VARIABLE_INDEX}`"
    for name in slots:
        found = getattr(optimizer, name, None)
        if not isinstance(found, list) or len(found) != len(variables):
            return f"no list `{name}` of one slot per variable (found {type(found).__name__})"
    return None


def _fused_ready(optimizer: keras.optimizers.Optimizer, slots: Sequence[str],
                 variables: Sequence[object]) -> bool:
    """Whether the fused update can run; if not, warn once that Keras' own update will."""
    missing = private_slots_missing(optimizer, slots, variables)
    if missing is not None:
        log.warning("keras %s: %s has %s, where %s reads its state; training uses Keras' own "
                    "(slower) update instead. Check alexnet_pipeline/training/fused_optimizers.py "
                    "against this Keras release",
                    keras.__version__, type(optimizer).__name__, missing, __name__)
    return missing is None


def _handle(variable):
    """The resource handle of a Keras variable or of a tf.Variable (a replica's, inside a
    distribution strategy's update)."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


def _fused(gradient) -> bool:
    import tensorflow as tf

    return keras.backend.backend() == "tensorflow" and not isinstance(gradient, tf.IndexedSlices)


@keras.saving.register_keras_serializable(package="alexnet_pipeline")
class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam, its update one `ResourceApplyAdam` per variable; `fused`, set by
    `build`, says whether the kernel can run (else Keras' own update does)."""

    SLOTS = ("_momentums", "_velocities")  # the lists keras.optimizers.Adam.build makes

    def build(self, var_list):
        super().build(var_list)
        self.fused = _fused_ready(self, self.SLOTS, var_list)

    def update_step(self, gradient, variable, learning_rate):
        if not getattr(self, "fused", False) or not _fused(gradient) or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = getattr(self, VARIABLE_INDEX)(variable)
        momentums, velocities = (getattr(self, name) for name in self.SLOTS)
        return tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(momentums[index]), v=_handle(velocities[index]),
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype), epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype))


@keras.saving.register_keras_serializable(package="alexnet_pipeline")
class FusedSGD(keras.optimizers.SGD):
    """keras.optimizers.SGD with (non-Nesterov) momentum, its update one
    `ResourceApplyKerasMomentum`; `fused` as in FusedAdam."""

    SLOTS = ("momentums",)  # the list keras.optimizers.SGD.build makes (empty without momentum)

    def build(self, variables):
        super().build(variables)
        self.fused = not self.momentum or _fused_ready(self, self.SLOTS, variables)

    def update_step(self, gradient, variable, learning_rate):
        if (not getattr(self, "fused", False) or not _fused(gradient) or not self.momentum
                or self.nesterov):
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        dtype = variable.dtype
        index = getattr(self, VARIABLE_INDEX)(variable)
        return tf.raw_ops.ResourceApplyKerasMomentum(
            var=_handle(variable), accum=_handle(getattr(self, self.SLOTS[0])[index]),
            lr=tf.cast(learning_rate, dtype), grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype))
