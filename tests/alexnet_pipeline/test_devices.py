"""Devices: the precision policy of each `train.mixed_precision` setting and the strategy choice."""

from __future__ import annotations

import pytest
import tensorflow as tf

from alexnet_pipeline.devices import precision_policy, strategy_for


@pytest.mark.parametrize(("setting", "has_gpu", "policy"), [
    ("auto", True, "mixed_float16"), ("auto", False, "float32"), ("off", True, "float32"),
    ("bf16", False, "mixed_bfloat16"), ("fp16", True, "mixed_float16")])
def test_precision_policy(setting: str, has_gpu: bool, policy: str) -> None:
    assert precision_policy(setting, has_gpu) == policy


def test_one_device_or_none_gets_no_mirroring() -> None:
    assert strategy_for([]) is tf.distribute.get_strategy()
    one = strategy_for(["/cpu:0"])
    assert isinstance(one, tf.distribute.OneDeviceStrategy) and one.num_replicas_in_sync == 1
