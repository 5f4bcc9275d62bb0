"""Whether the decoded train split is cached in memory (`train.cache`), and why.

Decoding is most of the input pipeline's work. A train split whose decoded stored squares fit in
memory is decoded once (`decoded_cache`) and every epoch crops from that; a larger one streams,
decoding each epoch again in bounded memory. `auto` decides with a budget: a share
(`train.cache_memory_share`) of the memory available now, where available is what the kernel
could hand out without swapping (MemAvailable) or, if lower, what the process's cgroup still
allows. The choice and its reason go to the log and `summary.json`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

CacheSetting = Literal["auto", "memory", "off"]
GIB = 2 ** 30


@dataclass(frozen=True)
class CacheChoice:
    """`memory`: epochs crop from the decoded split held in memory; `off`: they stream."""

    mode: Literal["memory", "off"]
    reason: str


def decoded_bytes(images: int, stored_size: int) -> int:
    """Bytes of `images` decoded stored squares: uint8, 3 channels."""
    return images * stored_size * stored_size * 3


def _read_int(path: Path) -> int | None:
    """The number in a one-line kernel file; None when absent, unlimited ("max") or not a number."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _meminfo_available(meminfo: Path) -> int | None:
    """MemAvailable of /proc/meminfo in bytes (what psutil reports as available on Linux)."""
    try:
        lines = meminfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name == "MemAvailable" and value.split():
            return int(value.split()[0]) * 1024
    return None


def _inactive_file(stat: Path, name: str) -> int:
    """The page cache a cgroup's `memory.stat` counts as reclaimable (`name`), 0 if unknown."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return 0


def _cgroup_room(cgroup: Path) -> int | None:
    """What this cgroup may still allocate: its limit less its working set (usage less the page
    cache it could reclaim, as the kubelet counts it), cgroup v2 or v1; None without a limit. A
    v1 "no limit" is a huge number, which `min` then ignores."""
    for limit_file, usage_file, stat_file, inactive in (
            ("memory.max", "memory.current", "memory.stat", "inactive_file"),
            ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat",
             "total_inactive_file")):
        limit, usage = _read_int(cgroup / limit_file), _read_int(cgroup / usage_file)
        if limit is not None and usage is not None:
            working_set = max(usage - _inactive_file(cgroup / stat_file, inactive), 0)
            return max(limit - working_set, 0)
    return None


def available_memory(meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes this process could allocate now: MemAvailable, or the cgroup's room if lower;
    elsewhere the free pages (`os.sysconf`); None when none of these can be read."""
    figures = [figure for figure in (_meminfo_available(meminfo), _cgroup_room(cgroup)) if figure is not None]
    if not figures:
        try:
            figures = [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
        except (ValueError, OSError, AttributeError):
            return None
    return min(figures)


def _gib(size: int) -> str:
    return f"{size / GIB:.2f} GiB"


def choose_cache(setting: CacheSetting, images: int, stored_size: int, share: float,
                 available: int | None) -> CacheChoice:
    """The cache mode for a train split of `images` stored squares of `stored_size`: `off` and
    `memory` as set (`memory` warns when over the budget), `auto` caches when the decoded split
    takes at most `share` of `available` bytes, the budget (exactly at it: cached)."""
    need = decoded_bytes(images, stored_size)
    size_text = f"{images} images decoded at {stored_size}x{stored_size} take {_gib(need)}"
    if setting == "off":
        return CacheChoice("off", "train.cache: off")
    if available is None:
        if setting == "memory":
            return CacheChoice("memory", f"train.cache: memory ({size_text}; available memory unknown)")
        return CacheChoice("off", f"auto: {size_text} and the available memory is unknown")
    budget = int(share * available)
    within = f"{size_text}, the budget is {_gib(budget)} ({share:g} of {_gib(available)} available)"
    if setting == "memory":
        if need > budget:
            log.warning("train.cache: memory caches the train split over the budget: %s", within)
        return CacheChoice("memory", f"train.cache: memory ({within})")
    if need <= budget:
        return CacheChoice("memory", f"auto: it fits: {within}")
    return CacheChoice("off", f"auto: it does not fit: {within}")
