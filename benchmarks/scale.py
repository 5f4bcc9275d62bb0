"""The pipeline at the scale users run: generated datasets of 5,000 and 25,000 images over 100
classes through the real stages (`dvc repro`), each in a temp project.

Usage: python benchmarks/scale.py [--images 25000 5000] [--classes 100] [--batch 64]

Per dataset size: generate the images (the sample generator's textured shapes on small 40-64 px
canvases; class c draws texture c mod 4 with its own colours, 4/5 train, 1/5 test), copy the
project into a temp git repo with `data.source: local`, then run `dvc repro --single-item STAGE`
for source, download, validate, preprocess, train (one epoch at `base.image_size` 67, batch
64), evaluate and gate (the first blessing), then gate once more with `--force` (a gate with a
blessed model: drift against its 25,000-row reference, its embedding sample, the blessed model
rescored on the test split), printing each stage's wall time, images/s and peak RSS (the whole process tree: dvc, the
stage and its workers; and the stage's own subtree). Then a no-op `dvc repro train` (everything
up to date, the data's files all in `data/raw`), and the batch-mixing ratio of one training
epoch read as the train stage reads it: mean distinct classes per batch over a uniform shuffle's
expectation (`alexnet_pipeline.input.batch_mixing`).
Goals: mixing >= 0.95 at 100 classes x 250 images, batch 64; no-op `dvc repro` <= 10 s with
25,000 images; peak RSS of validate, preprocess and the gate at 25,000 <= 1.2x their peak at 5,000.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

from alexnet_pipeline.sources.sample_data import TEXTURES, SampleSpec, render_image
from benchmarks.preprocess import descendants, process_table, tree_rss_kib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ["alexnet_pipeline", "stages", "pipelines", ".dvc", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"]
STAGES = ("source", "download", "validate", "preprocess", "train", "evaluate", "gate")
REGATE = "gate again"  # the gate forced to run again, now against the blessed model
CANVAS = (40, 64)
TEST_SHARE = 5  # one image in 5 goes to the test split


def _write_class(args: tuple[Path, int, int]) -> int:
    """All images of class `index`: `per_class` textured shapes, every fifth one a test image."""
    root, index, per_class = args
    texture = TEXTURES[index % len(TEXTURES)]
    spec = SampleSpec((texture,), per_class, 0, *CANVAS, seed=index)
    for number in range(per_class):
        split = "test" if number % TEST_SHARE == 0 else "train"
        folder = root / split / f"class{index:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        render_image(spec, "train", texture, number).save(folder / f"{number:04d}.jpg", quality=90)
    return per_class


def generate(root: Path, images: int, classes: int) -> float:
    """Write `images` images over `classes` classes under `root`; return the seconds it took."""
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        written = sum(pool.map(_write_class, [(root, c, images // classes) for c in range(classes)]))
    if written != images:
        sys.exit(f"--images {images} must be a multiple of --classes {classes}")
    return time.perf_counter() - start


def make_project(folder: Path, dataset: Path, batch: int) -> Path:
    """A copy of the project's code and pipeline as a git repo, reading `dataset` as a local source."""
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__", "cache", "tmp"))
        else:
            shutil.copy2(source, folder / name)
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["data"].update(source="local", local={"path": str(dataset)})
    params["base"]["image_size"] = 67
    params["train"].update(epochs=1, batch_size=batch)
    params["gate"]["min_accuracy"] = 0.0  # one epoch over 100 classes is far from 0.5: bless it anyway, so
    # that the second gate run measures a gate with a blessed model
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "scale benchmark"]):
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *command], cwd=folder, check=True)
    return folder


def timed(command: list[str], cwd: Path) -> dict[str, float]:
    """Run `command`; its wall time and the peak RSS (MiB) of its process tree and of the stage
    processes in it, sampled every 50 ms."""
    env = {**os.environ, "TQDM_DISABLE": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "DVC_NO_ANALYTICS": "1",
           "GX_ANALYTICS_ENABLED": "false",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tree_peak = stage_peak = 0
    while child.poll() is None:
        table = process_table()  # one look at /proc per sample
        tree_peak = max(tree_peak, tree_rss_kib(child.pid, table))
        # the stage's processes (`python -m stages.NAME`) and theirs: forked workers share its command
        # line, and a set counts each process once
        stages = {pid for pid in descendants(table, {child.pid})
                  if pid in table and b"-m\x00stages." in table[pid][2]}
        stage_peak = max(stage_peak, sum(table[pid][1] for pid in descendants(table, stages) if pid in table))
        time.sleep(0.05)
    wall = time.perf_counter() - start
    output = child.stdout.read()
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{output[-3000:]}")
    return {"wall_s": wall, "tree_mib": tree_peak / 1024, "stage_mib": stage_peak / 1024}


def mixing(project: Path, batch: int) -> dict[str, float]:
    """Distinct classes per batch over one training epoch, read as the train stage reads it."""
    from alexnet_pipeline.input.batch_mixing import batch_mixing
    from alexnet_pipeline.input.reader import make_dataset
    from alexnet_pipeline.input.tfrecords import ShardFormat, shard_files

    processed = project / "data" / "processed"
    images = sum(json.loads((processed / "splits.json").read_text())["train"].values())
    dataset = make_dataset(shard_files(processed, "train"), ShardFormat.read(processed), batch, training=True,
                           seed=42, num_examples=images)
    result = batch_mixing(labels.numpy() for _, labels in dataset)
    return {"ratio": result.ratio, "mean_distinct": result.mean_distinct, "min_distinct": result.min_distinct,
            "uniform_mean": result.uniform_mean, "batches": result.batches}


def run_size(images: int, classes: int, batch: int, work: Path) -> dict:
    """Generate, run the stages, time the no-op repro and measure mixing, for one dataset size."""
    dataset, project = work / f"data{images}", work / f"project{images}"
    generated_s = generate(dataset, images, classes)
    make_project(project, dataset, batch)
    stages = {}
    for stage in STAGES:
        stages[stage] = timed([sys.executable, "-m", "dvc", "repro", "--single-item", stage], project)
    if not json.loads((project / "reports/gate.json").read_text())["promoted"]:
        sys.exit("the first gate did not bless the model: the second gate run would not rescore one")
    stages[REGATE] = timed([sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "gate"], project)
    train_images = sum(json.loads((project / "data/processed/splits.json").read_text())["train"].values())
    for stage, figures in stages.items():
        figures["images_per_s"] = (train_images if stage == "train" else images) / figures["wall_s"]
    raw_files = sum(1 for path in (project / "data" / "raw").rglob("*") if path.is_file())
    noop = min(timed([sys.executable, "-m", "dvc", "repro", "train"], project)["wall_s"] for _ in range(2))
    return {"images": images, "classes": classes, "generate_s": generated_s, "raw_files": raw_files,
            "train_images": train_images, "stages": stages, "noop_repro_s": noop, "mixing": mixing(project, batch)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[5000, 25000])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="scale-") as work:
        for images in args.images:
            results.append(run_size(images, args.classes, args.batch, Path(work)))
            shutil.rmtree(Path(work) / f"data{images}")
    print(f"{'images':>7} {'stage':<11} {'wall s':>7} {'img/s':>8} {'tree MiB':>9} {'stage MiB':>10}")
    for result in results:
        for stage, figures in result["stages"].items():
            print(f"{result['images']:>7} {stage:<11} {figures['wall_s']:>7.1f} {figures['images_per_s']:>8.0f} "
                  f"{figures['tree_mib']:>9.0f} {figures['stage_mib']:>10.0f}")
        mix = result["mixing"]
        print(f"{result['images']:>7} no-op `dvc repro train` with {result['raw_files']} files in data/raw: "
              f"{result['noop_repro_s']:.1f} s")
        print(f"{result['images']:>7} batch mixing ({result['classes']} classes, batch {args.batch}): "
              f"{mix['mean_distinct']:.1f} distinct classes per batch (min {mix['min_distinct']}) against "
              f"{mix['uniform_mean']:.1f} for a uniform shuffle: ratio {mix['ratio']:.3f}")
    summary = {"sizes": results}
    if len(results) >= 2:
        small, large = min(results, key=lambda r: r["images"]), max(results, key=lambda r: r["images"])
        for stage in ("validate", "preprocess", REGATE):
            for kind in ("tree", "stage"):
                growth = large["stages"][stage][f"{kind}_mib"] / small["stages"][stage][f"{kind}_mib"]
                summary[f"{stage.replace(' ', '_')}_{kind}_rss_growth"] = round(growth, 3)
                print(f"peak RSS of {stage} ({kind}) at {large['images']} / at {small['images']}: {growth:.2f}x "
                      "(goal <= 1.2x)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
