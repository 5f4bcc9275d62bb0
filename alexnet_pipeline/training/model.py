"""AlexNet (Krizhevsky et al. 2012) as a Keras 3 model, in three variants.

The convolutional and dense stack follows the paper: 96@11x11/4, overlapping 3x3/2 max-pool,
256@5x5, pool, 384, 384, 256 @3x3, pool, 4096, 4096, softmax, ReLU and dropout. Variants:
- `paper`: single tower with local response normalization (k=2, n=5, alpha=1e-4, beta=0.75)
  after the ReLUs of conv1 and conv2; 58,281,344 + 4,097*C parameters at 227x227 for C classes;
- `grouped`: as `paper`, with conv2, conv4 and conv5 in two groups like the paper's two-GPU
  net (60,965,224 parameters at 1000 classes);
- `bn`: batch normalization instead of LRN, which trains faster from scratch on small data.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from alexnet_pipeline.training import lighting  # noqa: F401  (registers PCALighting for load_model)

INITIALIZERS = ("paper", "glorot", "he")
VARIANTS = ("paper", "grouped", "bn")
PAPER_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")  # the paper's biases of 1
LRN_SIZE, LRN_BIAS, LRN_ALPHA, LRN_BETA = 5, 2.0, 1e-4, 0.75  # the paper's n, k, alpha, beta


def lrn_portable(inputs, size: int, bias: float, alpha: float, beta: float):
    """LRN in keras.ops (any backend): the channel-window sum of squares as one matrix product.
    On a symbolic input it adds Keras' own ops to a functional model, which plain Keras loads."""
    channels = inputs.shape[-1]
    offsets = np.abs(np.arange(channels)[:, None] - np.arange(channels)[None, :])
    band = (offsets <= size // 2).astype(keras.backend.standardize_dtype(inputs.dtype))
    window = keras.ops.matmul(keras.ops.square(inputs), band)
    return inputs / keras.ops.power(bias + alpha * window, beta)


@keras.saving.register_keras_serializable(package="alexnet_pipeline")
class LocalResponseNormalization(layers.Layer):
    """The paper's LRN across channels: a / (k + alpha * sum of a^2 over n neighbours)^beta.
    TensorFlow's own op on that backend (far faster on a CPU), `lrn_portable` on the others."""

    def __init__(self, size: int = LRN_SIZE, bias: float = LRN_BIAS, alpha: float = LRN_ALPHA,
                 beta: float = LRN_BETA, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size, self.bias, self.alpha, self.beta = size, bias, alpha, beta

    def call(self, inputs):
        if keras.backend.backend() == "tensorflow":  # TensorFlow's fused op and its gradient
            import tensorflow as tf

            return tf.nn.local_response_normalization(inputs, depth_radius=self.size // 2, bias=self.bias,
                                                      alpha=self.alpha, beta=self.beta)
        return lrn_portable(inputs, self.size, self.bias, self.alpha, self.beta)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "bias": self.bias, "alpha": self.alpha,
                "beta": self.beta}


def _kernel_initializer(init: str, seed: int | None) -> keras.initializers.Initializer:
    """Weight initializer by name: the paper's N(0, 0.01), Glorot uniform or He normal."""
    if init == "paper":
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.01, seed=seed)
    if init == "glorot":
        return keras.initializers.GlorotUniform(seed=seed)
    if init == "he":
        return keras.initializers.HeNormal(seed=seed)
    raise ValueError(f"unknown init {init!r}; expected one of {', '.join(INITIALIZERS)}")


def build_alexnet(
    num_classes: int,
    image_size: int = 227,
    *,
    variant: str = "paper",
    dropout: float = 0.5,
    init: str = "he",
    seed: int | None = None,
    channel_mean: Sequence[float] | None = None,
    channel_std: Sequence[float] | None = None,
    augment: Sequence[layers.Layer] = (),
    weight_decay: float = 0.0,
    portable: bool = False,
) -> keras.Model:
    """Build AlexNet taking RGB images with 0..255 pixel values (uint8 or float).

    `augment` layers (training-only, such as `lighting.PCALighting`) come first. `weight_decay`
    is the paper's: its gradient `weight_decay * w` joins each kernel's gradient (an L2 penalty of
    `weight_decay / 2 * |w|^2`), so it goes through momentum as in the paper's update rule. When
    `channel_mean`/`channel_std` are given, the model normalizes its own input (a weightless
    layer), so a saved model needs nothing beside it to predict. A `portable` model is made of
    Keras' own layers and ops only (LRN as ops; give no `augment`), so plain Keras loads it
    without this project: the models the train stage saves.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    # Each layer gets its own seed so that layers of equal shape do not start identical.
    layer_seed = iter(range(seed if seed is not None else 0, (seed or 0) + 100))

    decay = keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    def bias(name: str) -> keras.initializers.Initializer:
        return keras.initializers.Ones() if init == "paper" and name in PAPER_BIAS_ONE else "zeros"

    def conv(filters: int, kernel: int, strides: int = 1, padding: str = "same", name: str = "",
             grouped: bool = False):
        return layers.Conv2D(
            filters,
            kernel,
            strides=strides,
            padding=padding,
            groups=2 if grouped and variant == "grouped" else 1,
            activation="relu",
            kernel_initializer=_kernel_initializer(init, next(layer_seed) if seed is not None else None),
            bias_initializer=bias(name),
            kernel_regularizer=decay,
            name=name,
        )

    def normalize(name: str):
        if variant == "bn":
            return layers.BatchNormalization(name=name)
        if portable:
            return lambda x: lrn_portable(x, LRN_SIZE, LRN_BIAS, LRN_ALPHA, LRN_BETA)
        return LocalResponseNormalization(name=name)

    def dense(units: int, name: str, activation: str = "relu", dtype: str | None = None):
        # He init is derived for ReLU layers; the softmax layer gets Glorot so that the first
        # logits are small and the first loss is near ln(C), unless the paper's init is asked for.
        layer_init = init if activation == "relu" or init == "paper" else "glorot"
        return layers.Dense(
            units,
            activation=activation,
            kernel_initializer=_kernel_initializer(layer_init, next(layer_seed) if seed is not None else None),
            bias_initializer=bias(name),
            kernel_regularizer=decay,
            name=name,
            dtype=dtype,
        )

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = inputs
    for layer in augment:
        x = layer(x)
    if channel_mean is not None and channel_std is not None:
        variance = [float(s) ** 2 for s in channel_std]
        # float32 under any policy, as in the saved model; conv1 casts the result to its own dtype
        x = layers.Normalization(mean=list(channel_mean), variance=variance, name="normalize", dtype="float32")(x)
    x = conv(96, 11, strides=4, padding="valid", name="conv1")(x)
    x = normalize("norm1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = conv(256, 5, name="conv2", grouped=True)(x)
    x = normalize("norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = conv(384, 3, name="conv3")(x)
    x = conv(384, 3, name="conv4", grouped=True)(x)
    x = conv(256, 3, name="conv5", grouped=True)(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = dense(4096, name="fc6")(x)
    x = layers.Dropout(dropout, seed=next(layer_seed) if seed is not None else None, name="drop6")(x)
    x = dense(4096, name="fc7")(x)
    x = layers.Dropout(dropout, seed=next(layer_seed) if seed is not None else None, name="drop7")(x)
    # float32 probabilities even under a mixed-precision policy, for a stable loss
    outputs = dense(num_classes, name="predictions", activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="alexnet")


def describe(model: keras.Model) -> dict:
    """The model's layers (name, type, output shape, parameters) and parameter totals, for the report."""
    layers_info = [{"name": layer.name, "type": type(layer).__name__,
                    "output_shape": list(layer.output.shape[1:]) if hasattr(layer, "output") else None,
                    "params": layer.count_params()} for layer in model.layers]
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    return {"name": model.name, "layers": layers_info, "total_params": model.count_params(),
            "trainable_params": trainable}


def load_model(path) -> keras.Model:
    """Load a saved AlexNet. The stage's models need plain Keras only; a training checkpoint has
    this project's layers, which importing this module registers first."""
    return keras.models.load_model(path)
