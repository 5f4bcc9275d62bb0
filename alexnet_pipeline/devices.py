"""Where and in what precision training runs: the GPUs TensorFlow sees, the Keras dtype policy
and the tf.distribute strategy (all visible GPUs, the global batch split across them)."""

from __future__ import annotations

import logging

import tensorflow as tf

log = logging.getLogger(__name__)

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def visible_gpus() -> list[str]:
    return [device.name for device in tf.config.list_logical_devices("GPU")]


def precision_policy(setting: str, has_gpu: bool) -> str:
    """The Keras dtype policy of `train.mixed_precision`: `auto` is fp16 on a GPU, off on a CPU.
    With `mixed_float16`, Keras' compile wraps the optimizer in a LossScaleOptimizer."""
    if setting == "auto":
        return "mixed_float16" if has_gpu else "float32"
    return POLICIES[setting]


def strategy_for(devices: list[str]) -> tf.distribute.Strategy:
    """MirroredStrategy over several devices (Keras splits each global batch among them),
    OneDeviceStrategy on one GPU (its input pipeline prefetches onto the GPU), else the default."""
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices)
    if len(devices) == 1:
        return tf.distribute.OneDeviceStrategy(devices[0])
    return tf.distribute.get_strategy()
