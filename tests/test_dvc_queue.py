"""A parameter grid through DVC's experiment queue runs the real stages and lists each result."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import run

pytestmark = pytest.mark.slow(seconds=140)
DVC = [sys.executable, "-m", "dvc"]
RATES = (0.001, 0.0003)
# Each `dvc exp show` costs about 2 s of CPU that the queued runs need, and the suite is bound by
# CPU: the two queued trainings took 200 s within `make test` on 2 cores, so the first poll
# waits 100 s and the next ones 15 s each (a worker that waits leaves its core to the others).
FIRST_POLL_S = 100
POLL_S = 15


def _experiments(project: Path) -> list[dict]:
    """`dvc exp show --json`'s experiments of the baseline commit (each with its executor)."""
    rows = json.loads(run(DVC + ["exp", "show", "--json"], project).stdout)
    return [experiment for row in rows for experiment in row.get("experiments") or []]


def _wait_for_queue(project: Path, count: int, timeout_s: float = 600) -> list[dict]:
    """The queue's experiments once all `count` have ended (their executor's state, not its log)."""
    deadline = time.monotonic() + timeout_s
    time.sleep(FIRST_POLL_S)
    while True:
        experiments = _experiments(project)
        states = [(experiment.get("executor") or {}).get("state") for experiment in experiments]
        if len(experiments) == count and all(state in ("success", "failed") for state in states):
            return experiments
        if time.monotonic() > deadline:
            pytest.fail(f"the queue did not finish in {timeout_s} s: {states}")
        time.sleep(POLL_S)


def test_a_queued_grid_runs_and_exp_show_lists_both_with_metrics(project_copy: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run(git + ["add", "dvc.lock", "reports/metrics.json"], project_copy)
    run(git + ["commit", "-qm", "baseline"], project_copy)
    grid = ",".join(str(rate) for rate in RATES)
    # up to evaluate, which writes the metrics compared here (export and report add nothing to it)
    run(DVC + ["exp", "run", "--queue", "evaluate", "-S", f"train.learning_rate={grid}"], project_copy)
    run(DVC + ["queue", "start"], project_copy)
    try:
        experiments = _wait_for_queue(project_copy, len(RATES))
    finally:
        run(DVC + ["queue", "stop", "--kill"], project_copy, check=False)

    for experiment in experiments:
        logs = Path(experiment["executor"]["local"]["log"])
        assert experiment["executor"]["state"] == "success", logs.read_text()[-3000:]
    results = {}
    for experiment in experiments:
        data = experiment["revs"][0]["data"]
        rate = data["params"]["params.yaml"]["data"]["train"]["learning_rate"]
        metrics = data["metrics"]["reports/metrics.json"]["data"]
        results[rate] = metrics
        assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["loss"] > 0
        assert metrics["model"]["epochs_run"] == 2  # trained in the queue's own workspace
    assert sorted(results) == sorted(RATES)
    assert results[RATES[0]]["loss"] != results[RATES[1]]["loss"]  # each trained with its own rate
    # the workspace is untouched: the queue ran elsewhere
    assert "learning_rate: 0.0001" in (project_copy / "params.yaml").read_text()
