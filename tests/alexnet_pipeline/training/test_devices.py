"""Devices: `auto` precision for each kind of hardware (only the detection inputs are made up:
/proc/cpuinfo's flags and GPUs' compute capabilities), forced settings and the strategy choice."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import tensorflow as tf

from alexnet_pipeline.training import devices
from alexnet_pipeline.training.devices import (
    Hardware,
    choose_precision,
    cpu_bf16_flags,
    detect_hardware,
    strategy_for,
)

# /proc/cpuinfo excerpts: a Sapphire Rapids core (AMX), a Cooper Lake core (AVX-512 BF16 alone)
# and a Skylake core (AVX-512 without bf16)
SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8
"""
COOPER_LAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512cd\nbugs\t\t: spectre_v1\n"
NO_BF16 = frozenset()


@pytest.mark.parametrize(("cpuinfo", "flags"), [
    (SAPPHIRE_RAPIDS, {"amx_bf16", "avx512_bf16"}), (COOPER_LAKE, {"avx512_bf16"}), (SKYLAKE, set()), ("", set())])
def test_cpu_bf16_flags_are_read_from_cpuinfo(cpuinfo: str, flags: set[str]) -> None:
    assert cpu_bf16_flags(cpuinfo) == flags


BF16_LOST_ACCURACY = "but bf16 lost accuracy on a CPU (docs/training.md, Precision): set bf16 for speed"


@pytest.mark.parametrize(("cpuinfo", "reason"), [
    (SAPPHIRE_RAPIDS, f"auto: no GPU; the CPU has amx_bf16 and avx512_bf16, {BF16_LOST_ACCURACY}"),
    (COOPER_LAKE, f"auto: no GPU; the CPU has avx512_bf16, {BF16_LOST_ACCURACY}"),
    (SKYLAKE, "auto: no GPU, and the CPU has neither AMX nor AVX-512 BF16")])
def test_auto_on_a_cpu_is_float32_and_says_why(cpuinfo: str, reason: str) -> None:
    """bf16 on a CPU scored more than 2 points below float32 on the sample, so `auto` keeps
    float32 there and names the bf16 instructions a user could opt into."""
    precision = choose_precision("auto", Hardware((), cpu_bf16_flags(cpuinfo)))
    assert (precision.policy, precision.reason) == ("float32", reason)


@pytest.mark.parametrize(("capabilities", "policy", "named"), [
    (((8, 0),), "mixed_bfloat16", "8.0"),      # A100
    (((9, 0), (9, 0)), "mixed_bfloat16", "9.0"),  # two H100s
    (((8, 6),), "mixed_bfloat16", "8.6"),      # RTX 3090
    (((7, 5),), "mixed_float16", "7.5"),       # T4
    (((7, 0),), "mixed_float16", "7.0"),       # V100
    (((8, 0), (7, 5)), "mixed_float16", "7.5"),  # mixed GPUs: the oldest decides
])
def test_auto_on_gpus_is_bf16_from_compute_capability_8(capabilities, policy: str, named: str) -> None:
    precision = choose_precision("auto", Hardware(capabilities, cpu_bf16_flags(SAPPHIRE_RAPIDS)))
    assert precision.policy == policy and f"compute capability {named}" in precision.reason


def test_auto_on_a_gpu_of_unknown_capability_is_fp16() -> None:
    precision = choose_precision("auto", Hardware((None,), NO_BF16))
    assert precision.policy == "mixed_float16" and "unknown compute capability" in precision.reason


@pytest.mark.parametrize(("setting", "policy"), [("off", "float32"), ("bf16", "mixed_bfloat16"),
                                                 ("fp16", "mixed_float16")])
def test_a_forced_setting_wins_on_any_hardware(setting: str, policy: str) -> None:
    for hardware in (Hardware(((9, 0),), NO_BF16), Hardware((), cpu_bf16_flags(COOPER_LAKE))):
        precision = choose_precision(setting, hardware)
        assert precision.policy == policy and precision.reason == f"train.mixed_precision: {setting}"


def test_forced_bf16_on_a_cpu_without_bf16_warns_that_it_is_emulated(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert choose_precision("bf16", Hardware((), NO_BF16)).policy == "mixed_bfloat16"
    assert "emulated, and slower than float32" in caplog.text


def test_detect_hardware_reads_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(COOPER_LAKE)
    monkeypatch.setattr(devices, "CPUINFO", cpuinfo)
    hardware = detect_hardware()
    assert hardware.cpu_bf16 == {"avx512_bf16"}
    assert len(hardware.gpu_capabilities) == len(tf.config.list_physical_devices("GPU"))
    monkeypatch.setattr(devices, "CPUINFO", tmp_path / "absent")  # not Linux
    assert detect_hardware().cpu_bf16 == NO_BF16


def test_one_device_or_none_gets_no_mirroring() -> None:
    assert strategy_for([]) is tf.distribute.get_strategy()
    one = strategy_for(["/cpu:0"])
    assert isinstance(one, tf.distribute.OneDeviceStrategy) and one.num_replicas_in_sync == 1
