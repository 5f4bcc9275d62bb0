"""Time `alexnet flow` on a project that is already up to date (after `make run`).

Usage: python benchmarks/flow_up_to_date.py [PROJECT]   (default: this project)
Goal: the whole command (Prefect's temporary server included) within 60 s, with every stage but
`source` skipped and no model written. The figures are the best and the median of 3 runs; the
last line is one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 3
GOAL_S = 60.0


def run_flow(project: Path) -> tuple[float, dict[str, str]]:
    """Seconds `alexnet flow` took, and what it says each stage did."""
    command = [str(Path(sys.executable).parent / "alexnet"), "flow", "--project-dir", str(project)]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"alexnet flow failed:\n{completed.stderr[-3000:]}")
    return elapsed, json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    project = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    model = project / "models" / "alexnet.keras"
    if not model.is_file():
        sys.exit(f"{model}: not found; run `make run` first so that the pipeline is up to date")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    model_written = model.stat().st_mtime_ns
    timings, outcomes = [], []
    for _ in range(ROUNDS):
        seconds, outcome = run_flow(project)
        timings.append(seconds)
        outcomes.append(outcome)
    ran = sorted({stage for outcome in outcomes for stage, did in outcome.items() if did == "ran"})
    trained = model.stat().st_mtime_ns != model_written
    print(f"{'run':>4} {'seconds':>8}  stages run")
    for index, (seconds, outcome) in enumerate(zip(timings, outcomes, strict=True), 1):
        print(f"{index:>4} {seconds:8.1f}  {', '.join(s for s, did in outcome.items() if did == 'ran')}")
    print(f"best {min(timings):.1f} s, median {statistics.median(timings):.1f} s (goal <= {GOAL_S:.0f} s); "
          f"model rewritten: {trained}")
    print(json.dumps({"best_s": round(min(timings), 1), "median_s": round(statistics.median(timings), 1),
                      "goal_s": GOAL_S, "stages_run": ran, "model_rewritten": trained}))


if __name__ == "__main__":
    main()
