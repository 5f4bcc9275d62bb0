"""Is the gate's regression check telling noise from regression? Retrain the shipped recipe with
other seeds (and two models that must be rejected) against the blessed model of `make run`.

Usage: python benchmarks/gate_noise.py PROJECT [--seeds 11,12,13,14,15] [--only NAME ...]
PROJECT must have run `make run` (its blessed model is v1). Each trial starts from that blessed
model and the shipped params.yaml, changes params as a user would (`-S`), runs `dvc repro`, and
reads the gate's decision: the candidate's and the blessed model's accuracy on the same test
images, the paired difference with its interval, McNemar's p-value and the outcome. The trials:
one per seed (`base.seed`: new sample images, new split, new initialisation), `train.epochs=1`,
and the shipped recipe on the same images with 30% of the train labels flipped (a local copy of
the sample whose test split is untouched). The project is put back as it was at the end. Prints
a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.dvc_command import dvc_command
from pipelines.overrides import apply_param_overrides

FLIPPED_SHARE = 0.3
KEPT = ("params.yaml", "models/blessed", "reports/model_history.jsonl")


def flipped_copy(raw: Path, into: Path, share: float, seed: int) -> int:
    """A copy of the dataset in `raw` whose train images are moved, `share` of them (seeded), to
    another class's folder; test stays as it is. Returns how many were moved."""
    shutil.copytree(raw, into, ignore=shutil.ignore_patterns("layout.json"))
    rng = random.Random(seed)
    classes = sorted(path.name for path in (into / "train").iterdir())
    images = sorted((into / "train").glob("*/*"))
    moved = 0
    for image in rng.sample(images, round(share * len(images))):
        wrong = rng.choice([name for name in classes if name != image.parent.name])
        image.rename(into / "train" / wrong / f"flipped-{image.parent.name}-{image.name}")
        moved += 1
    return moved


def copy_kept(source_root: Path, target_root: Path) -> None:
    """Replace the KEPT files and folders under `target_root` by those under `source_root`."""
    for relative in KEPT:
        target, source = target_root / relative, source_root / relative
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        elif source.exists():
            shutil.copy2(source, target)


def trial(project: Path, saved: Path, name: str, overrides: list[str]) -> dict:
    """Put the saved params and blessed model back, apply `overrides`, `dvc repro`, read the gate."""
    copy_kept(saved, project)
    apply_param_overrides(project, overrides)
    start = time.perf_counter()
    argv, env = dvc_command(["repro"])
    done = subprocess.run(argv, env=env, cwd=project, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{name}: dvc repro failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    gate = json.loads((project / load_params(project / "params.yaml").paths.gate).read_text())
    comparison = gate["comparison"] or {}
    regression = next((check for check in gate["checks"] if check["name"] == "max_regression"), None)
    return {"trial": name, "overrides": overrides, "candidate": gate["candidate"]["accuracy"],
            "blessed": gate["blessed"]["accuracy"] if gate["blessed"] else None,
            "difference": comparison.get("difference"), "interval": comparison.get("interval"),
            "p_value": comparison.get("p_value"), "images": comparison.get("images"),
            "candidate_only": comparison.get("candidate_only"), "blessed_only": comparison.get("blessed_only"),
            "status": gate["status"], "regression_blocked": bool(regression and not regression["passed"]),
            "failed_checks": [check["name"] for check in gate["checks"] if not check["passed"]],
            "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--seeds", default="11,12,13,14,15")
    parser.add_argument("--only", nargs="*", help="run only these trials (seed-11, one-epoch, flipped-labels)")
    args = parser.parse_args()
    project = args.project.resolve()
    params = load_params(project / "params.yaml")
    if not (project / params.paths.blessed / "version.json").is_file():
        sys.exit(f"{project}: nothing is blessed; run `make run` there first")
    saved = project.parent / f"{project.name}-gate-noise-saved"
    shutil.rmtree(saved, ignore_errors=True)
    copy_kept(project, saved)
    flipped = project.parent / f"{project.name}-flipped-labels"
    trials = [(f"seed-{seed}", [f"base.seed={seed}"]) for seed in args.seeds.split(",")]
    trials += [("one-epoch", ["train.epochs=1"]),
               ("flipped-labels", ["data.source=local", f"data.local.path={flipped}"])]
    if args.only:
        trials = [item for item in trials if item[0] in args.only]
    if any(name == "flipped-labels" for name, _ in trials):
        shutil.rmtree(flipped, ignore_errors=True)
        moved = flipped_copy(project / params.paths.raw, flipped, FLIPPED_SHARE, params.base.seed)
        print(f"flipped-labels: {moved} train images moved to another class in {flipped}", flush=True)
    results = []
    try:
        for name, overrides in trials:
            results.append(trial(project, saved, name, overrides))
            print(json.dumps(results[-1]), flush=True)
    finally:
        copy_kept(saved, project)
    alpha, max_regression = params.gate.alpha, params.gate.max_regression
    print(f"\ngate.alpha {alpha}, gate.max_regression {max_regression}")
    print(f"{'trial':<16} {'candidate':>9} {'blessed':>8} {'diff':>8} {'interval':>19} {'p':>9} {'status':<10} blocked by")
    for row in results:
        interval = f"{row['interval'][0]:+.4f} {row['interval'][1]:+.4f}" if row["interval"] else "-"
        print(f"{row['trial']:<16} {row['candidate']:>9.4f} {row['blessed'] or 0:>8.4f} {row['difference'] or 0:>+8.4f} "
              f"{interval:>19} {row['p_value'] if row['p_value'] is not None else 1:>9.3g} {row['status']:<10} "
              f"{', '.join(row['failed_checks']) or '-'}")
    print(json.dumps({"benchmark": "gate_noise", "alpha": alpha, "max_regression": max_regression,
                      "trials": results}))


if __name__ == "__main__":
    main()
