"""How long a run whose worker died blocks the nightly deployment, with and without the automation
that `alexnet deploy` ships (pipelines/automations.py).

Usage: python benchmarks/dead_run.py [--without]   (--without: also the baseline, the automation deleted)
On a tiny project (tests/helpers.py) and a real `prefect server start`, a process worker is killed
with everything it started once training finished its first epoch; a new worker and a new run
follow at once. Measured from the kill: when the dead run ended Crashed (or that it was still
Running when the next run started), and when the next run started. Goal: the next run starts within
180 s. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.helpers import make_project, run
from tests.pipelines.prefect_server import (
    BIN,
    DEPLOYMENT,
    deploy,
    kill_tree,
    running_server,
    start,
    stop,
)

EPOCHS = 12
GOAL_S = 180.0
CRASH_AUTOMATION = "alexnet_pipeline/nightly: mark dead runs Crashed"


def _create_run(client, overrides: list[str]):
    return client.create_flow_run_from_deployment(client.read_deployment_by_name(DEPLOYMENT).id,
                                                  parameters={"overrides": overrides})


def measure(folder: Path, with_automation: bool) -> dict[str, object]:
    """One kill on a fresh tiny project and server: seconds from the kill to the dead run's end and
    to the next run's start."""
    project = make_project(folder / "project")
    run([sys.executable, "-m", "dvc", "repro"], project)
    (folder / "home").mkdir()
    server = running_server(folder / "home")
    env = next(server)
    try:
        deploy(env, project)
        with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}), \
                get_client(sync_client=True) as client:
            if not with_automation:
                for automation in client.read_automations_by_name(CRASH_AUTOMATION):
                    client.delete_automation(automation.id)
            backup = project / "checkpoints/train/backup/training_metadata.json"
            worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "alexnet-process"], env,
                           folder / "worker-1.log")
            dead = _create_run(client, [f"train.epochs={EPOCHS}"])
            while not backup.exists():
                time.sleep(0.2)
            kill_tree(worker)
            killed = datetime.now(UTC)
            worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "alexnet-process"], env,
                           folder / "worker-2.log")
            following = _create_run(client, [])
            ended_s = started_s = None
            while started_s is None or (with_automation and ended_s is None):
                if ended_s is None and (state := client.read_flow_run(dead.id).state).is_final():
                    ended_s = (state.timestamp - killed).total_seconds()
                if started_s is None and (start_time := client.read_flow_run(following.id).start_time):
                    started_s = (start_time - killed).total_seconds()
                time.sleep(1)
            dead_state = client.read_flow_run(dead.id).state.name
            stop(worker)
    finally:
        server.close()
    return {"automation": with_automation, "dead_run_state": dead_state,
            "dead_run_ended_s": None if ended_s is None else round(ended_s), "next_run_started_s": round(started_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--without", action="store_true", help="also measure without the automation")
    args = parser.parse_args()
    results = []
    for with_automation in (True, False) if args.without else (True,):
        with tempfile.TemporaryDirectory(prefix="dead-run-") as folder:
            results.append(measure(Path(folder), with_automation))
    print(f"{'automation':>10} {'dead run at the end':>20} {'ended (s)':>10} {'next run (s)':>13}")
    for row in results:
        print(f"{'yes' if row['automation'] else 'no':>10} {row['dead_run_state']:>20} "
              f"{row['dead_run_ended_s'] if row['dead_run_ended_s'] is not None else '-':>10} "
              f"{row['next_run_started_s']:>13}")
    print(json.dumps({"goal_s": GOAL_S, "runs": results}))


if __name__ == "__main__":
    main()
