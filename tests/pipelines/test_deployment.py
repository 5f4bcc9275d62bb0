"""prefect.yaml's `nightly` deployment on a real `prefect server start`: `alexnet deploy`, a
process worker and a triggered run; and `alexnet serve` in one process."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings

from alexnet_pipeline.errors import PipelineError
from pipelines.deployment import read_spec
from pipelines.flow import alexnet_pipeline
from tests.helpers import REPO_ROOT

BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 150
DEPLOYMENT = "alexnet_pipeline/nightly"


def test_the_shipped_nightly_deployment() -> None:
    spec = read_spec(REPO_ROOT, "nightly")
    assert (spec.cron, spec.timezone, spec.work_pool) == ("0 2 * * *", "UTC", "alexnet-process")
    # every flow parameter is spelled out, with the flow's own defaults
    defaults = {name: p.default for name, p in inspect.signature(alexnet_pipeline.fn).parameters.items()}
    assert spec.parameters == {**defaults, "overrides": []}
    with pytest.raises(PipelineError, match="no deployment named 'weekly' under `deployments:`; it has nightly"):
        read_spec(REPO_ROOT, "weekly")


@pytest.mark.parametrize(("text", "message"), [
    ("deployments: [", "prefect.yaml: not valid YAML"),
    ("name: empty\n", "no deployment named 'nightly' under `deployments:`; it has none"),
    ("deployments:\n  - name: nightly\n", "deployment 'nightly' needs a cron schedule and work_pool.name"),
])
def test_a_broken_prefect_yaml_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "prefect.yaml").write_text(text)
    with pytest.raises(PipelineError, match=re.escape(message)):
        read_spec(tmp_path, "nightly")


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Prefect setting of the test process, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "2",
            "DVC_NO_ANALYTICS": "1", **extra}


def test_deploy_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    completed = subprocess.run([str(BIN / "alexnet"), "deploy", "--project-dir", str(REPO_ROOT)],
                               env=_clean_env(PREFECT_HOME=str(tmp_path)), capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 1
    assert "error: no Prefect server configured: start one with `prefect server start`" in completed.stderr
    assert "Traceback" not in completed.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`prefect server start` on 127.0.0.1 with its own database; yields the clients' environment."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = _start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
                    _clean_env(PREFECT_HOME=str(home)), home / "server.log")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prefect server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield _clean_env(PREFECT_HOME=str(home), PREFECT_API_URL=api)
    finally:
        _stop(server)


def _wait_for_run(api: str, flow_run_id: UUID, log: Path) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run
            time.sleep(2)
    pytest.fail(f"the flow run did not finish in {RUN_TIMEOUT_S} s; log:\n{log.read_text()[-3000:]}")


@pytest.mark.slow(seconds=135)
def test_deployment_runs_on_a_process_worker(prefect_server: dict[str, str], project_copy: Path,
                                             tmp_path: Path) -> None:
    api = prefect_server["PREFECT_API_URL"]
    model_written = (project_copy / "models/alexnet.keras").stat().st_mtime_ns
    deployed = subprocess.run([str(BIN / "alexnet"), "deploy", "--project-dir", str(project_copy)],
                              env=prefect_server, capture_output=True, text=True, timeout=180, check=False)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "work pool alexnet-process: created" in deployed.stderr

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        assert deployment.work_pool_name == "alexnet-process"
        assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]
        assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(project_copy)}}]
        flow_run = client.create_flow_run_from_deployment(deployment.id)

    worker_log = tmp_path / "worker.log"
    worker = _start([str(BIN / "prefect"), "worker", "start", "--pool", "alexnet-process"], prefect_server,
                    worker_log)
    try:
        finished = _wait_for_run(api, flow_run.id, worker_log)
    finally:
        _stop(worker)
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
    server = _start([str(BIN / "alexnet"), "serve", "--project-dir", project_copy.name], prefect_server, serve_log,
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
            flow_run = client.create_flow_run_from_deployment(deployment.id)
        finished = _wait_for_run(api, flow_run.id, serve_log)
    finally:
        _stop(server)
    assert finished.state.is_completed(), f"{finished.state}\n{serve_log.read_text()[-3000:]}"
