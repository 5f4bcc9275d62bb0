"""Where and in what precision training runs: the GPUs TensorFlow sees, the Keras dtype policy
and the tf.distribute strategy (all visible GPUs, the global batch split across them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

log = logging.getLogger(__name__)

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo's names for AMX and AVX-512 BF16
BF16_GPU_CAPABILITY = (8, 0)  # Ampere and newer: bf16 tensor cores as fast as fp16, no loss scaling
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Hardware:
    """What `auto` precision depends on: each visible GPU's compute capability ((major, minor),
    None where TensorFlow does not say) and the CPU's bf16 instruction sets (`CPU_BF16_FLAGS`)."""

    gpu_capabilities: tuple[tuple[int, int] | None, ...]
    cpu_bf16: frozenset[str]


@dataclass(frozen=True)
class Precision:
    """The Keras dtype policy training runs in, and why (for the logs, summary.json and the report)."""

    policy: str
    reason: str


def visible_gpus() -> list[str]:
    return [device.name for device in tf.config.list_logical_devices("GPU")]


def cpu_bf16_flags(cpuinfo: str) -> frozenset[str]:
    """The bf16 instruction sets among a /proc/cpuinfo text's `flags` (empty if it has none)."""
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags")
             for flag in line.partition(":")[2].split()}
    return frozenset(flags.intersection(CPU_BF16_FLAGS))


def detect_hardware() -> Hardware:
    """The GPUs TensorFlow sees and the CPU's bf16 flags (none where /proc/cpuinfo is absent)."""
    capabilities = tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability")
                         for gpu in tf.config.list_physical_devices("GPU"))
    cpuinfo = CPUINFO.read_text(errors="replace") if CPUINFO.is_file() else ""
    return Hardware(capabilities, cpu_bf16_flags(cpuinfo))


def choose_precision(setting: str, hardware: Hardware) -> Precision:
    """The policy of `train.mixed_precision`. `auto` picks what trains fastest and safely here:
    bf16 on GPUs of compute capability 8.0 and up, fp16 with loss scaling on older GPUs, and
    float32 on a CPU: with AMX or AVX-512 BF16, bf16 trained 1.7x as fast but scored 2.25 points
    lower on the sample over three seeds (docs/training.md, Precision), so there it is a choice (`bf16`).
    With `mixed_float16`, Keras' compile wraps the optimizer in a LossScaleOptimizer."""
    if setting != "auto":
        policy = POLICIES[setting]
        if policy == "mixed_bfloat16" and not hardware.gpu_capabilities and not hardware.cpu_bf16:
            log.warning("train.mixed_precision: bf16 on a CPU without AMX or AVX-512 BF16 is emulated, "
                        "and slower than float32 (`off`)")
        return Precision(policy, f"train.mixed_precision: {setting}")
    if hardware.gpu_capabilities:
        known = [c for c in hardware.gpu_capabilities if c is not None]
        if len(known) < len(hardware.gpu_capabilities):
            return Precision("mixed_float16", "auto: a GPU of unknown compute capability, fp16 with loss scaling")
        oldest = min(known)
        capability = f"{oldest[0]}.{oldest[1]}"
        if oldest >= BF16_GPU_CAPABILITY:
            return Precision("mixed_bfloat16", f"auto: GPU compute capability {capability} (8.0 or newer) "
                                               "trains as fast in bf16 as in fp16, with no loss scaling")
        return Precision("mixed_float16", f"auto: GPU compute capability {capability} (before 8.0) has "
                                          "no fast bf16: fp16 with loss scaling")
    if hardware.cpu_bf16:
        return Precision("float32", f"auto: no GPU; the CPU has {' and '.join(sorted(hardware.cpu_bf16))}, "
                                    "but bf16 lost accuracy on a CPU (docs/training.md, Precision): set bf16 for speed")
    return Precision("float32", "auto: no GPU, and the CPU has neither AMX nor AVX-512 BF16")


def strategy_for(devices: list[str]) -> tf.distribute.Strategy:
    """MirroredStrategy over several devices (Keras splits each global batch among them),
    OneDeviceStrategy on one GPU (its input pipeline prefetches onto the GPU), else the default."""
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices)
    if len(devices) == 1:
        return tf.distribute.OneDeviceStrategy(devices[0])
    return tf.distribute.get_strategy()
