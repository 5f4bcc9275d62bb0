"""train.cache: the budget rule at its boundary, the settings, and where available memory comes from."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from alexnet_pipeline.input.cache_budget import available_memory, choose_cache, decoded_bytes

# 2 images of 4x4: 96 bytes decoded; with a share of 0.5 the budget is half the available bytes.
IMAGES, STORED, NEED = 2, 4, 96


def test_the_decoded_size_is_uint8_rgb_squares() -> None:
    assert decoded_bytes(IMAGES, STORED) == NEED
    assert decoded_bytes(1_281_167, 256) == 251_887_681_536  # ImageNet's train split: 234.6 GiB


@pytest.mark.parametrize(("available", "mode"), [(2 * NEED - 2, "off"),  # budget one byte under the need
                                                  (2 * NEED, "memory"),  # exactly at the budget
                                                  (2 * NEED + 2, "memory")])  # one byte over it
def test_auto_caches_when_the_decoded_split_fits_the_budget(available: int, mode: str) -> None:
    choice = choose_cache("auto", IMAGES, STORED, 0.5, available)
    assert choice.mode == mode
    assert choice.reason.startswith("auto: it fits" if mode == "memory" else "auto: it does not fit")
    assert "2 images decoded at 4x4" in choice.reason and "0.5 of" in choice.reason


def test_the_budget_is_the_share_of_what_is_available() -> None:
    assert choose_cache("auto", IMAGES, STORED, 1.0, NEED).mode == "memory"
    assert choose_cache("auto", IMAGES, STORED, 1.0, NEED - 1).mode == "off"
    assert choose_cache("auto", IMAGES, STORED, 0.25, 4 * NEED).mode == "memory"
    assert choose_cache("auto", IMAGES, STORED, 0.25, 4 * NEED - 1).mode == "off"


def test_memory_caches_over_the_budget_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert choose_cache("memory", IMAGES, STORED, 0.5, 2 * NEED).mode == "memory"
        assert not caplog.records
        choice = choose_cache("memory", IMAGES, STORED, 0.5, 2 * NEED - 2)
    assert choice.mode == "memory" and choice.reason.startswith("train.cache: memory")
    assert "over the budget" in caplog.text


def test_off_streams_and_unknown_memory_streams_unless_told() -> None:
    assert choose_cache("off", IMAGES, STORED, 0.5, 10 ** 12).mode == "off"
    assert choose_cache("off", IMAGES, STORED, 0.5, 10 ** 12).reason == "train.cache: off"
    unknown = choose_cache("auto", IMAGES, STORED, 0.5, None)
    assert unknown.mode == "off" and "unknown" in unknown.reason
    assert choose_cache("memory", IMAGES, STORED, 0.5, None).mode == "memory"


def _files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


MEMINFO = "MemTotal:       16000000 kB\nMemFree:  1000 kB\nMemAvailable:    8000000 kB\n"


def test_available_memory_is_memavailable_or_the_cgroups_room_if_lower(tmp_path: Path) -> None:
    meminfo = _files(tmp_path, {"meminfo": MEMINFO}) / "meminfo"
    no_cgroup = tmp_path / "none"
    assert available_memory(meminfo, no_cgroup) == 8_000_000 * 1024
    unlimited = _files(tmp_path / "v2max", {"memory.max": "max\n", "memory.current": "100\n"})
    assert available_memory(meminfo, unlimited) == 8_000_000 * 1024
    # cgroup v2: limit 3 GiB, usage 2 GiB of which 0.5 GiB reclaimable page cache: 1.5 GiB of room
    v2 = _files(tmp_path / "v2", {"memory.max": f"{3 * 2**30}\n", "memory.current": f"{2 * 2**30}\n",
                                  "memory.stat": f"anon 1\ninactive_file {2**29}\nactive_file 5\n"})
    assert available_memory(meminfo, v2) == 3 * 2**29
    v1 = _files(tmp_path / "v1", {"memory/memory.limit_in_bytes": f"{2**30}\n",
                                  "memory/memory.usage_in_bytes": f"{2**29}\n",
                                  "memory/memory.stat": f"total_inactive_file {2**28}\n"})
    assert available_memory(meminfo, v1) == 2**30 - 2**28
    full = _files(tmp_path / "full", {"memory.max": "100\n", "memory.current": "200\n"})
    assert available_memory(meminfo, full) == 0
    assert available_memory(tmp_path / "no-meminfo", v1) == 2**30 - 2**28
