"""The staleness sweep: which stages DVC itself finds stale after an edit to each module, against
the stages that import it.

Usage: python benchmarks/stage_staleness.py [--project DIR]

Builds a tiny project in a temp folder (tests.helpers.make_project: the code, dvc.yaml and tiny
params in a fresh git repo) and runs `dvc repro` there (2-3 min on CPU), unless --project names a
project on which `dvc repro` has already run. Then, for each .py file under alexnet_pipeline/ and
stages/ (and each package data file of tools/stage_deps.py PACKAGE_DATA, the report template):
append a comment line, run `dvc status --json`, record the stages stale because of that file (a
changed dep that is the file or a folder holding it; `source`'s `always changed` does not count),
restore the file. Expected: the stages whose generated code deps hold the file (their import
closure, tools/stage_deps.py). A stale stage that does not import the file is a needless pair (an
edit reruns a stage it cannot change); an importing stage that is not stale is a missed pair
(`dvc repro` keeps outputs the edit may change). Goal: no needless and no missed pair.
Prints a table, then, last, one JSON line with the counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repo root, for tests.helpers and tools
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import make_project, run
from tools.stage_deps import (
    PACKAGE_DATA,
    changed_deps,
    generated_deps,
    load,
    stale_because_of,
)

SWEPT = ("alexnet_pipeline", "stages")
EDIT = "\n# staleness sweep: an edit that changes no behaviour\n"


def dvc_status(project: Path) -> dict[str, list]:
    completed = run([sys.executable, "-m", "dvc", "status", "--json"], project, check=False)
    if completed.returncode != 0:
        sys.exit(f"dvc status exited {completed.returncode}:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout)


def swept_files(project: Path) -> list[str]:
    files = [path.relative_to(project).as_posix() for package in SWEPT
             for path in (project / package).rglob("*.py") if "__pycache__" not in path.parts]
    return sorted(files) + sorted(data for data in PACKAGE_DATA if (project / data).is_file())


def stale_after_edit(project: Path, relative: str) -> set[str]:
    """The stages `dvc status` finds stale because `relative` changed; the file is restored."""
    path = project / relative
    original = path.read_bytes()
    try:
        path.write_bytes(original + EDIT.encode())
        return stale_because_of(dvc_status(project), relative)
    finally:
        path.write_bytes(original)


def assert_up_to_date(project: Path, when: str) -> None:
    changed = {stage: deps for stage, deps in changed_deps(dvc_status(project)).items() if deps}
    if changed:
        sys.exit(f"{when}: the project is not up to date, so an edit's effect cannot be told "
                 f"apart: {changed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a project on which `dvc repro` has run")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stage-staleness-") as temp:
        project = args.project.resolve() if args.project else make_project(Path(temp) / "project")
        if not args.project:
            completed = run([sys.executable, "-m", "dvc", "repro"], project, check=False)
            if completed.returncode != 0:
                sys.exit(f"dvc repro exited {completed.returncode}:\n{completed.stderr[-3000:]}")
        built = time.perf_counter()
        assert_up_to_date(project, "before the sweep")
        stages = load((project / "dvc.yaml").read_text())["stages"]
        deps = generated_deps(project, stages)
        rows = []
        for relative in swept_files(project):
            expected = {stage for stage, files in deps.items() if relative in files}
            rows.append((relative, expected, stale_after_edit(project, relative)))
        assert_up_to_date(project, "after the sweep (a file was not restored)")
    swept = time.perf_counter()

    order = list(stages)
    table = [(relative, *(", ".join(stage for stage in order if stage in found)
                          for found in (expected, stale)), "yes" if expected == stale else "NO")
             for relative, expected, stale in rows]
    widths = [max(len(row[column]) for row in table) for column in range(3)]
    for row in [("file", "expected stages", "stale stages", "match"), *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, [*widths, 0], strict=True)))
    needless = sum(len(stale - expected) for _, expected, stale in rows)
    missed = sum(len(expected - stale) for _, expected, stale in rows)
    mismatched = [relative for relative, expected, stale in rows if expected != stale]
    print(f"{len(rows)} files, {sum(len(e) for _, e, _ in rows)} expected stage/file pairs: "
          f"{needless} needless, {missed} missed (goal: 0 and 0); "
          f"build {built - start:.0f} s, sweep {swept - built:.0f} s")
    print(json.dumps({"files_tried": len(rows), "pairs_expected": sum(len(e) for _, e, _ in rows),
                      "pairs_stale": sum(len(s) for _, _, s in rows), "pairs_needless": needless,
                      "pairs_missed": missed, "files_mismatched": mismatched,
                      "build_s": round(built - start, 1), "sweep_s": round(swept - built, 1)}))


if __name__ == "__main__":
    main()
