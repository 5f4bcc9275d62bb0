"""Speed and memory of the preprocess stage against the seeds' baseline, on real photos.

Usage: python benchmarks/preprocess.py [DATASET]   (default ../shared/datasets/cats_vs_dogs_small)

Figures, all on the same files in the same run (page cache warmed first):
- baseline: `keras.utils.load_img(path, target_size=(227, 227))` + `img_to_array` per image into
  one NumPy array (what the seed projects did);
- Pillow decode-only: `Image.open(path).load()` per image, one process (the physical limit);
- this stage with 1 and 2 worker processes (decode, EXIF, RGB, resize, JPEG encode, stats, write);
- peak RSS of the stage (a child process, 2 workers) on the dataset and on 4 copies of it.
Goals: stage (2 workers) / baseline >= 1.8; stage per core >= 0.7x decode-only; RSS at 4x the
data <= 1.2x RSS at 1x. The ratio is of wall-clock throughputs, and the stage's needs both cores
free: on a busy machine it drops while the work per image does not. So each method's CPU time per
image (getrusage, this process and its children) is reported too, which a busy machine leaves
nearly unchanged. The last line is one JSON object with the figures (`ratio` first).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from alexnet_pipeline.config import params_from_dict
from alexnet_pipeline.sources.canonical_copy import copy_dataset
from alexnet_pipeline.sources.layout import find_images
from alexnet_pipeline.validation.manifest import build_manifest
from stages.preprocess import preprocess

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "datasets" / "cats_vs_dogs_small"
IMAGE_SIZE = 227


def _config(workers: int):
    import yaml

    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["preprocess"].update(workers=workers, resize="paper", encoding="jpeg")
    return params_from_dict(data).preprocess


def cpu_seconds() -> float:
    """CPU time of this process and its finished children so far (user + system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def with_cpu_ms(method, *args) -> tuple[float, float]:
    """`method(*args)`'s images/s, and the CPU milliseconds it spent per image."""
    images, before = len(args[0]), cpu_seconds()
    rate = method(*args)
    return rate, (cpu_seconds() - before) * 1000 / images


def baseline(paths: list[Path]) -> float:
    import keras

    start = time.perf_counter()
    array = np.zeros((len(paths), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
    for index, path in enumerate(paths):
        array[index] = keras.utils.img_to_array(keras.utils.load_img(path, target_size=(IMAGE_SIZE, IMAGE_SIZE)))
    return len(paths) / (time.perf_counter() - start)


def decode_only(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            image.load()
    return len(paths) / (time.perf_counter() - start)


def stage(manifest, raw: Path, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        preprocess(manifest, raw, Path(out), _config(workers), IMAGE_SIZE, seed=42)
        return len(manifest) / (time.perf_counter() - start)


def process_table() -> dict[int, tuple[int, int, bytes]]:
    """Every process now: pid -> (parent pid, resident KiB, command line with NUL separators)."""
    table = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        table[int(status.parent.name)] = (int(fields["PPid"]), int(fields.get("VmRSS", "0 kB").split()[0]), cmdline)
    return table


def descendants(table: dict[int, tuple[int, int, bytes]], roots: set[int]) -> set[int]:
    """`roots` and every process below them in `table`."""
    tree, changed = set(roots), True
    while changed:
        grown = tree | {pid for pid, (parent, _, _) in table.items() if parent in tree}
        changed, tree = grown != tree, grown
    return tree


def tree_rss_kib(root_pid: int, table: dict[int, tuple[int, int, bytes]] | None = None) -> int:
    """Resident memory of a process and all its descendants (the stage, its forkserver, workers)."""
    table = process_table() if table is None else table
    return sum(table[pid][1] for pid in descendants(table, {root_pid}) if pid in table)


def linked_copies(raw: Path, paths: list[Path], copies: int, data: Path) -> Path:
    """`copies` hard links of each of `paths` (files under `raw`) in `data`, at the same place
    under new names: the same files again without copying them."""
    for copy in range(copies):
        for path in paths:
            target = data / path.relative_to(raw).with_name(f"{copy}_{path.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    return data


def peak_rss_mib(raw: Path, copies: int, work: Path) -> float:
    """Peak resident memory (MiB) of the stage with its 2 workers, run as a child process on
    `copies` x the data, sampled every 20 ms over the whole process tree."""
    data = linked_copies(raw, list(raw.rglob("*.jpg")), copies, work / f"x{copies}")
    script = (
        "import sys; from pathlib import Path\n"
        "from alexnet_pipeline.sources.layout import find_images\n"
        "from alexnet_pipeline.validation.manifest import build_manifest\n"
        "from stages.preprocess import preprocess\n"
        "import benchmarks.preprocess as b\n"
        "raw, out = Path(sys.argv[1]), Path(sys.argv[2]); out.mkdir()\n"
        "preprocess(build_manifest(find_images(raw), raw), raw, out, b._config(2), b.IMAGE_SIZE, 42)\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(data), str(work / f"out{copies}")], cwd=ROOT,
                             env={**os.environ, "TQDM_DISABLE": "1"})
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_rss_kib(child.pid))
        time.sleep(0.02)
    if child.returncode != 0:
        sys.exit(f"the stage failed on {copies}x the data")
    return peak / 1024


def dataset_argument() -> Path:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not source.is_dir():
        sys.exit(f"{source}: dataset folder not found")
    return source


def canonical_copy(source: Path, work: Path):
    """The dataset as the download stage lays it out (`work/raw/<split>/<class>/<file>`) and its
    validate manifest."""
    raw = work / "raw"
    raw.mkdir()
    copy_dataset(source, raw, move=False)
    return raw, build_manifest(find_images(raw), raw, workers=2)


def main() -> None:
    source = dataset_argument()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        raw, manifest = canonical_copy(source, work)
        paths = [raw / p for p in manifest["path"]]
        for path in paths:
            path.read_bytes()  # warm the page cache: every method reads from memory
        figures = {}  # the stage first: as under DVC, it runs without TensorFlow loaded (keras loads it)
        for name, method, args in (("decode_only", decode_only, (paths,)),
                                   ("stage_1_worker", stage, (manifest, raw, 1)),
                                   ("stage_2_workers", stage, (manifest, raw, 2)),
                                   ("baseline", baseline, (paths,))):
            figures[f"{name}_img_s"], figures[f"{name}_cpu_ms"] = with_cpu_ms(method, *args)
        figures["peak_rss_1x_mib"] = peak_rss_mib(raw, 1, work)
        figures["peak_rss_4x_mib"] = peak_rss_mib(raw, 4, work)
    figures = {name: round(value, 3 if name.endswith("_cpu_ms") else 1) for name, value in figures.items()}
    ratio = figures["stage_2_workers_img_s"] / figures["baseline_img_s"]
    per_core = figures["stage_2_workers_img_s"] / 2 / figures["decode_only_img_s"]
    memory = figures["peak_rss_4x_mib"] / figures["peak_rss_1x_mib"]
    print(f"{len(paths)} images from {source}, {IMAGE_SIZE} px (paper policy: 256 stored), JPEG shards")
    print(f"{'method':<38}{'images/s':>10}{'CPU-ms/image':>14}")
    for name in ("baseline", "decode_only", "stage_1_worker", "stage_2_workers"):
        print(f"{name:<38}{figures[name + '_img_s']:>10.1f}{figures[name + '_cpu_ms']:>14.3f}")
    print(f"ratio stage(2 workers)/baseline: {ratio:.2f} (goal >= 1.8)")
    print(f"stage per core / decode-only: {per_core:.2f} (goal >= 0.7)")
    print(f"peak RSS: {figures['peak_rss_1x_mib']:.0f} MiB at 1x, {figures['peak_rss_4x_mib']:.0f} MiB at 4x "
          f"({memory:.2f}x; goal <= 1.2)")
    cpu_ratio = figures["baseline_cpu_ms"] / figures["stage_2_workers_cpu_ms"]
    print(f"CPU per image, baseline / stage (2 workers): {cpu_ratio:.2f} (what two idle cores double)")
    print(json.dumps({"ratio": round(ratio, 2), "cpu_ratio": round(cpu_ratio, 2),
                      "per_core_vs_decode": round(per_core, 2),
                      "rss_4x_over_1x": round(memory, 2), "images": len(paths), **figures}))


if __name__ == "__main__":
    main()
