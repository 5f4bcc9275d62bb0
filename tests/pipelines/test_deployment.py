"""prefect.yaml's `nightly` deployment on a real `prefect server start`: `alexnet deploy`, a
process worker and a triggered run; and `alexnet serve` in one process."""

from __future__ import annotations

import contextlib
import inspect
import re
import subprocess
import time
from pathlib import Path

import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings

from alexnet_pipeline.errors import PipelineError
from pipelines.deployment import read_spec
from pipelines.flow import alexnet_pipeline
from tests.helpers import REPO_ROOT
from tests.pipelines.prefect_server import (
    BIN,
    DEPLOYMENT,
    clean_env,
    deploy,
    start,
    stop,
    wait_for_run,
)


def test_the_shipped_nightly_deployment() -> None:
    spec = read_spec(REPO_ROOT, "nightly")
    assert (spec.cron, spec.timezone, spec.work_pool) == ("0 2 * * *", "UTC", "alexnet-process")
    # every flow parameter is spelled out, with the flow's own defaults
    defaults = {name: p.default for name, p in inspect.signature(alexnet_pipeline.fn).parameters.items()}
    assert spec.parameters == {**defaults, "overrides": []}
    with pytest.raises(PipelineError, match="no deployment named 'weekly' under `deployments:`; it has nightly"):
        read_spec(REPO_ROOT, "weekly")


NIGHTLY = "deployments:\n  - name: nightly\n    schedules: [{cron: '0 2 * * *'}]\n    work_pool:\n      name: pool"


def test_the_heartbeat_is_read_at_its_boundary(tmp_path: Path) -> None:
    (tmp_path / "prefect.yaml").write_text(f"{NIGHTLY}\n      job_variables: {{env: {{PREFECT_FLOWS_HEARTBEAT_FREQUENCY: '30'}}}}\n")
    assert read_spec(tmp_path, "nightly").heartbeat_s == 30


@pytest.mark.parametrize(("text", "message"), [
    ("deployments: [", "prefect.yaml: not valid YAML"),
    ("name: empty\n", "no deployment named 'nightly' under `deployments:`; it has none"),
    ("deployments:\n  - name: nightly\n", "deployment 'nightly' needs a cron schedule and work_pool.name"),
    *((f"{NIGHTLY}\n      job_variables: {{env: {{PREFECT_FLOWS_HEARTBEAT_FREQUENCY: {value}}}}}\n",
       (f"deployment 'nightly' needs work_pool.job_variables.env.PREFECT_FLOWS_HEARTBEAT_FREQUENCY, a number of "
       f"seconds of at least 30 (it has {shown})")) for value, shown in (("'29'", "'29'"), ("often", "'often'"))),
    (f"{NIGHTLY}\n", ("work_pool.job_variables.env.PREFECT_FLOWS_HEARTBEAT_FREQUENCY, a number of seconds of at "
                     "least 30 (it has None): without heartbeats a run whose machine died stays Running")),
])
def test_a_broken_prefect_yaml_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "prefect.yaml").write_text(text)
    with pytest.raises(PipelineError, match=re.escape(message)):
        read_spec(tmp_path, "nightly")


def test_deploy_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    completed = subprocess.run([str(BIN / "alexnet"), "deploy", "--project-dir", str(REPO_ROOT)],
                               env=clean_env(PREFECT_HOME=str(tmp_path)), capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 1
    assert "error: no Prefect server configured: start one with `prefect server start`" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(("slug", "message"), [
    ("slack-webhook/nobody", "no such block on the Prefect server"),
    ("secret/not-a-notifier", "a secret block cannot send notifications"),
])
def test_a_wrong_alert_block_is_refused_before_anything_is_deployed(prefect_server: dict[str, str], tmp_path: Path,
                                                                     slug: str, message: str) -> None:
    (tmp_path / "prefect.yaml").write_text((REPO_ROOT / "prefect.yaml").read_text().replace(
        "  - name: nightly", "  - name: refused"))
    with temporary_settings(updates={PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}):
        Secret(value="not a webhook").save("not-a-notifier", overwrite=True)
    completed = subprocess.run([str(BIN / "alexnet"), "deploy", "--project-dir", str(tmp_path), "--name", "refused",
                                "--alert-block", slug], env=prefect_server, capture_output=True, text=True,
                               timeout=180, check=False)
    assert completed.returncode == 1
    assert f"error: --alert-block {slug}: {message}" in completed.stderr and "Traceback" not in completed.stderr
    with temporary_settings(updates={PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}), \
            get_client(sync_client=True) as client, pytest.raises(ObjectNotFound):
        client.read_deployment_by_name("alexnet_pipeline/refused")


@pytest.mark.slow(seconds=135)
def test_deployment_runs_on_a_process_worker(prefect_server: dict[str, str], project_copy: Path,
                                             tmp_path: Path) -> None:
    api = prefect_server["PREFECT_API_URL"]
    model_written = (project_copy / "models/alexnet.keras").stat().st_mtime_ns
    deployed = deploy(prefect_server, project_copy)
    assert "work pool alexnet-process: created" in deployed.stderr
    assert "automation 'alexnet_pipeline/nightly: mark dead runs Crashed'" in deployed.stderr
    assert "alerts: off; set ALEXNET_ALERT_WEBHOOK_URL" in deployed.stderr

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        assert deployment.work_pool_name == "alexnet-process"
        assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]
        assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(project_copy)}}]
        assert deployment.job_variables == {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}}
        assert [a.name for a in client.read_automations()] == ["alexnet_pipeline/nightly: mark dead runs Crashed"]
        flow_run = client.create_flow_run_from_deployment(deployment.id)

    worker_log = tmp_path / "worker.log"
    worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "alexnet-process"], prefect_server,
                    worker_log)
    try:
        finished = wait_for_run(api, flow_run.id, worker_log)
    finally:
        stop(worker)
    assert finished.state.is_completed(), f"{finished.state}\n{worker_log.read_text()[-3000:]}"
    log = worker_log.read_text()
    assert "Stage 'train' didn't change, skipping" in log
    assert (project_copy / "models/alexnet.keras").stat().st_mtime_ns == model_written


@pytest.mark.slow
def test_serve_runs_the_deployment_in_one_process(prefect_server: dict[str, str], project_copy: Path,
                                                  tmp_path: Path) -> None:
    api = prefect_server["PREFECT_API_URL"]
    serve_log = tmp_path / "serve.log"
    with (temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client,
          contextlib.suppress(ObjectNotFound)):  # the worker test's deployment of the same name
        client.delete_deployment(client.read_deployment_by_name(DEPLOYMENT).id)
    server = start([str(BIN / "alexnet"), "serve", "--project-dir", project_copy.name], prefect_server, serve_log,
                    cwd=project_copy.parent)  # a relative --project-dir
    try:
        with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    deployment = client.read_deployment_by_name(DEPLOYMENT)
                    break
                except ObjectNotFound:  # not registered yet
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"alexnet serve did not register:\n{serve_log.read_text()[-3000:]}")
                    time.sleep(1)
            assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]
            assert deployment.work_pool_name is None  # served by that process, not by a work pool
            assert deployment.parameters["project_dir"] == str(project_copy)
            deadline = time.monotonic() + 60  # serve registers the deployment, then its automations
            while not (crash := client.read_automations_by_name("alexnet_pipeline/nightly: mark dead runs Crashed")):
                assert time.monotonic() < deadline, serve_log.read_text()[-3000:]
                time.sleep(1)
            assert [a.trigger.match_related.model_dump() for a in crash] == [
                {"prefect.resource.id": f"prefect.deployment.{deployment.id}"}]  # the served deployment's runs
            flow_run = client.create_flow_run_from_deployment(deployment.id)
        finished = wait_for_run(api, flow_run.id, serve_log)
    finally:
        stop(server)
    assert finished.state.is_completed(), f"{finished.state}\n{serve_log.read_text()[-3000:]}"
