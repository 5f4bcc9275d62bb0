"""Worker processes for the CPU-bound stages (manifest decoding, shard writing).

Workers are forked from the caller: they start in milliseconds and import nothing again. When
the caller has TensorFlow loaded (its thread pools make forking unsafe: a lock held by another
thread at fork time stays held in the child), they come from a fresh fork server instead,
which loads `preload` once. The stages never load TensorFlow; tests and notebooks may.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

THREADED_MODULES = ("tensorflow",)


def worker_count(workers: int) -> int:
    """A `workers` param, with 0 meaning one process per core this process may use."""
    return workers or len(os.sched_getaffinity(0))


def process_pool(workers: int, preload: list[str]) -> ProcessPoolExecutor:
    if any(name in sys.modules for name in THREADED_MODULES):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(preload)
    else:
        context = multiprocessing.get_context("fork")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)
