"""A dead worker on a real Prefect server: the nightly deployment's worker is killed, with every
process it started, in the middle of training. The run's heartbeats stop, the automation that
`alexnet deploy` shipped marks it Crashed and frees its concurrency slot, and the next run starts
promptly, resumes training from the last finished epoch and completes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.pipelines.prefect_server import (
    BIN,
    DEPLOYMENT,
    deploy,
    kill_tree,
    start,
    stop,
    wait_for_run,
)

EPOCHS = 6  # a few seconds each on 2 cores: the kill lands well inside training
NEXT_RUN_START_S = 180  # the goal: the next run starts within 3 minutes of the kill


def _create_run(api: str, overrides: list[str]):
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return client.create_flow_run_from_deployment(client.read_deployment_by_name(DEPLOYMENT).id,
                                                      parameters={"overrides": overrides})


@pytest.mark.slow(seconds=330)
def test_a_run_whose_worker_died_ends_crashed_and_the_next_run_resumes_it(
        prefect_server: dict[str, str], project_copy: Path, tmp_path: Path) -> None:
    api = prefect_server["PREFECT_API_URL"]
    deploy(prefect_server, project_copy)
    backup = project_copy / "checkpoints/train/backup/training_metadata.json"  # Keras' record of finished epochs
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
    worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "alexnet-process"], prefect_server, first_log)
    try:
        dead = _create_run(api, [f"train.epochs={EPOCHS}"])
        deadline = time.monotonic() + 240
        while not backup.exists():  # an epoch finished: the run is mid-training
            if time.monotonic() > deadline:
                pytest.fail(f"training did not reach its first epoch:\n{first_log.read_text()[-3000:]}")
            time.sleep(0.2)
        kill_tree(worker)
        killed_at = datetime.now(UTC)
        finished_epochs = json.loads(backup.read_text())["epoch"]
    finally:
        stop(worker)
    worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "alexnet-process"], prefect_server, second_log)
    try:
        following = _create_run(api, [])  # as the next night's schedule would
        crashed = wait_for_run(api, dead.id, first_log, timeout_s=240)
        resumed = wait_for_run(api, following.id, second_log, timeout_s=420)
    finally:
        stop(worker)
    assert crashed.state.name == "Crashed", crashed.state
    assert crashed.state.message.startswith("no heartbeat for 90 s: the run's process died")
    assert resumed.state.is_completed(), f"{resumed.state}\n{second_log.read_text()[-3000:]}"
    waited = (resumed.start_time - killed_at).total_seconds()
    assert 0 < waited < NEXT_RUN_START_S, f"the next run started {waited:.0f} s after the kill"
    summary = json.loads((project_copy / "reports/train/summary.json").read_text())
    assert (summary["epochs_run"], summary["resumed_from_epoch"]) == (EPOCHS, finished_epochs)
    print(f"dead run Crashed at +{(crashed.state.timestamp - killed_at).total_seconds():.0f} s, next run started "
          f"at +{waited:.0f} s after the kill; resumed after epoch {finished_epochs} of {EPOCHS}")
