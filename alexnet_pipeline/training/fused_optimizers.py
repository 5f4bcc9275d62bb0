"""Adam and SGD with momentum that update each variable with one fused TensorFlow kernel.

Keras 3 updates a variable with about ten element-wise ops, each a pass over it; AlexNet has 58M
weights, so on a CPU that is a fixed cost of every step: 0.179 s against 0.050 s for TensorFlow's
fused `ResourceApplyAdam` (`benchmarks/train_throughput.py --optimizer-only`). It weighs most when the rest of the step gets
faster, as in bfloat16. The formulas are Keras' own, so only float rounding differs. On other
backends, and for sparse gradients or AMSGrad, Keras' own update runs.
"""

from __future__ import annotations

import keras


def _handle(variable):
    """The resource handle of a Keras variable or of a tf.Variable (a replica's, inside a
    distribution strategy's update)."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


def _fused(gradient) -> bool:
    import tensorflow as tf

    return keras.backend.backend() == "tensorflow" and not isinstance(gradient, tf.IndexedSlices)


@keras.saving.register_keras_serializable(package="alexnet_pipeline")
class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam, its update one `ResourceApplyAdam` per variable."""

    def update_step(self, gradient, variable, learning_rate):
        if not _fused(gradient) or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        return tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]), v=_handle(self._velocities[index]),
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype), beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


@keras.saving.register_keras_serializable(package="alexnet_pipeline")
class FusedSGD(keras.optimizers.SGD):
    """keras.optimizers.SGD with (non-Nesterov) momentum, its update one `ResourceApplyKerasMomentum`."""

    def update_step(self, gradient, variable, learning_rate):
        if not _fused(gradient) or not self.momentum or self.nesterov:
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        dtype = variable.dtype
        return tf.raw_ops.ResourceApplyKerasMomentum(
            var=_handle(variable), accum=_handle(self.momentums[self._get_variable_index(variable)]),
            lr=tf.cast(learning_rate, dtype), grad=tf.cast(gradient, dtype), momentum=tf.cast(self.momentum, dtype))
