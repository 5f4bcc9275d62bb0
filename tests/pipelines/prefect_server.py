"""A real `prefect server start` for the deployment tests (automations run only there), and the
helpers that start, stop and wait on its workers and runs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import psutil
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL, temporary_settings

BIN = Path(sys.executable).parent
DEPLOYMENT = "alexnet_pipeline/nightly"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Prefect setting of the test process, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "2",
            "DVC_NO_ANALYTICS": "1", **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """`command` in its own process group (so that stopping it stops what it started), output to `log`."""
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop `process` and its process group: `sig` first, SIGKILL after 20 s."""
    try:
        os.killpg(process.pid, sig)
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL `process` and everything it started (a worker starts flow runs in sessions of their
    own, out of its process group), as a machine that dies would."""
    for member in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(signal.SIGKILL)
    process.wait()


def running_server(home: Path) -> Iterator[dict[str, str]]:
    """`prefect server start` on 127.0.0.1 with its own database in `home`; yields the clients'
    environment. Its services (triggers, actions) run automations as in production."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
                   clean_env(PREFECT_HOME=str(home)), home / "server.log")
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
        yield clean_env(PREFECT_HOME=str(home), PREFECT_API_URL=api)
    finally:
        stop(server)


def wait_for_run(api: str, flow_run_id: UUID, log: Path, timeout_s: float = 150,
                 done=lambda run: run.state is not None and run.state.is_final()) -> FlowRun:
    """The flow run once `done` (default: in a final state); fails the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if done(run):
                return run
            time.sleep(2)
    pytest.fail(f"flow run {flow_run_id} not done in {timeout_s} s ({run.state}); log:\n{log.read_text()[-3000:]}")


def deploy(env: dict[str, str], project: Path, *extra: str) -> subprocess.CompletedProcess:
    """`alexnet deploy` of the project's nightly deployment; fails the test if it fails."""
    deployed = subprocess.run([str(BIN / "alexnet"), "deploy", "--project-dir", str(project), *extra], env=env,
                              capture_output=True, text=True, timeout=180, check=False)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    return deployed
