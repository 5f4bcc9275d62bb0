"""Throughput of validate's manifest step (full decode + SHA-256) with 1 and 2 worker processes.

Usage: python benchmarks/validate.py [DATASET]   (default ../shared/datasets/cats_vs_dogs_small)
Goal: >= 200 images/s per core, and 2 workers >= 1.8x one. The dataset is read once before
timing, so every run sees the same warm page cache; the figures are medians of 7 alternating
runs. The last line is one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from alexnet_pipeline.sources.layout import find_images
from alexnet_pipeline.validation.manifest import inspect_files

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_vs_dogs_small"
ROUNDS = 7


def images_per_second(entries: list, root: Path, workers: int) -> float:
    start = time.perf_counter()
    rows = inspect_files(entries, root, workers)
    elapsed = time.perf_counter() - start
    assert len(rows) == len(entries)
    return len(entries) / elapsed


def measure(entries: list, root: Path) -> tuple[float, float]:
    """Median images/s with 1 and with 2 workers; the two alternate, so that whatever else the
    machine does in the meantime slows both alike."""
    one, two = [], []
    for _ in range(ROUNDS):
        one.append(images_per_second(entries, root, 1))
        two.append(images_per_second(entries, root, 2))
    return statistics.median(one), statistics.median(two)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not root.is_dir():
        sys.exit(f"{root}: dataset folder not found")
    entries = find_images(root)
    for entry in entries:  # warm the page cache so that both runs measure decoding, not the disk
        entry.source.read_bytes()
    one, two = measure(entries, root)
    print(f"{len(entries)} images in {root}")
    print(f"1 worker:  {one:7.1f} images/s")
    print(f"2 workers: {two:7.1f} images/s ({two / one:.2f}x; {two / 2:.1f} per core)")
    print(json.dumps({"dataset": root.name, "images": len(entries), "workers_1_img_s": round(one, 1),
                      "workers_2_img_s": round(two, 1), "speedup": round(two / one, 2),
                      "goal_img_s_per_core": 200, "goal_speedup": 1.8}))


if __name__ == "__main__":
    main()
