"""The flow's deployments, as declared in prefect.yaml: create them on a Prefect server with a
process work pool (`alexnet deploy`), or serve one from this process (`alexnet serve`); either
way with the automations that watch their runs (pipelines/automations.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import yaml

from alexnet_pipeline.errors import PipelineError
from pipelines import automations

PREFECT_FILE = "prefect.yaml"
FLOW_NAME = "alexnet_pipeline"
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of prefect.yaml: its schedule, work pool and flow parameters."""

    name: str
    cron: str
    timezone: str
    work_pool: str
    parameters: dict[str, Any]
    heartbeat_s: int  # seconds between a run's heartbeats (job_variables.env.PREFECT_FLOWS_HEARTBEAT_FREQUENCY)


def read_spec(project_dir: Path, name: str) -> DeploymentSpec:
    """The deployment `name` of the project's prefect.yaml."""
    path = project_dir / PREFECT_FILE
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; run from the project root or pass --project-dir") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from None
    listed = config.get("deployments") if isinstance(config, dict) else None
    deployments = {item.get("name"): item for item in listed or [] if isinstance(item, dict)}
    if name not in deployments:
        raise PipelineError(f"{path}: no deployment named {name!r} under `deployments:`; it has "
                            f"{', '.join(map(str, deployments)) or 'none'}")
    item = deployments[name]
    crons = [schedule for schedule in item.get("schedules") or [] if "cron" in schedule]
    if not crons or not (item.get("work_pool") or {}).get("name"):
        raise PipelineError(f"{path}: deployment {name!r} needs a cron schedule and work_pool.name")
    heartbeat = ((item["work_pool"].get("job_variables") or {}).get("env") or {}).get(HEARTBEAT_ENV)
    try:
        heartbeat_s = int(heartbeat)
    except (TypeError, ValueError):
        heartbeat_s = 0
    if heartbeat_s < 30:  # Prefect's least heartbeat frequency
        raise PipelineError(f"{path}: deployment {name!r} needs work_pool.job_variables.env.{HEARTBEAT_ENV}, "
                            f"a number of seconds of at least 30 (it has {heartbeat!r}): without heartbeats a "
                            "run whose machine died stays Running")
    return DeploymentSpec(name=name, cron=crons[0]["cron"], timezone=crons[0].get("timezone", "UTC"),
                          work_pool=item["work_pool"]["name"], parameters=dict(item.get("parameters") or {}),
                          heartbeat_s=heartbeat_s)


def require_server() -> str:
    """The configured Prefect API URL; deployments need a server that outlives this process."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise PipelineError("no Prefect server configured: start one with `prefect server start`, then "
                            "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` (or export it)")
    return url


def ensure_work_pool(name: str) -> bool:
    """Create the process work pool `name` unless it exists; return whether it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))
            return True


def deployment_id(name: str) -> UUID:
    """The id of the flow's deployment `name` on the Prefect server."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(f"{FLOW_NAME}/{name}").id


def deploy(project_dir: Path, name: str, alert_block: str | None = None) -> DeploymentSpec:
    """Create or update the deployment `name` from prefect.yaml, its work pool and its
    automations (alerts through `alert_block`, or automations.WEBHOOK_ENV's URL)."""
    spec = read_spec(project_dir, name)
    url = require_server()
    try:
        created = ensure_work_pool(spec.work_pool)
    except (httpx.HTTPError, OSError) as exc:  # Prefect's HTTP errors are httpx's
        raise PipelineError(f"cannot reach the Prefect server at {url}: {exc}; is `prefect server start` "
                            "running?") from None
    log.info("work pool %s: %s", spec.work_pool, "created" if created else "exists")
    target = automations.alert_target(alert_block)  # a wrong block stops here, before anything is deployed
    command = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--name", name,
               "--prefect-file", PREFECT_FILE]
    completed = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, check=False,
                               env={**os.environ, "PREFECT_CLI_WRAP_LINES": "false"})
    if completed.returncode != 0:
        raise PipelineError(f"`prefect deploy --name {name}` failed:\n{(completed.stdout + completed.stderr)[-3000:]}")
    log.info("deployment %s/%s: cron %r (%s) on work pool %s", FLOW_NAME, name, spec.cron, spec.timezone,
             spec.work_pool)
    automations.ship(f"{FLOW_NAME}/{name}", deployment_id(name), spec.heartbeat_s, target)
    return spec


def serve(project_dir: Path, name: str, alert_block: str | None = None) -> None:
    """Serve the deployment `name` from this process: its schedule, parameters, heartbeats and
    automations, no work pool."""
    from prefect import serve as serve_deployments
    from prefect.schedules import Cron

    from pipelines.flow import alexnet_pipeline

    spec = read_spec(project_dir, name)
    target = automations.alert_target(alert_block)  # a wrong block stops here, before anything is served
    project = project_dir.resolve()
    os.chdir(project)  # the entrypoint is recorded relative to the working directory
    os.environ[HEARTBEAT_ENV] = str(spec.heartbeat_s)  # the runs this process starts inherit it
    deployment = alexnet_pipeline.to_deployment(
        name=name, schedules=[Cron(spec.cron, timezone=spec.timezone)],
        parameters={**spec.parameters, "project_dir": str(project)},
        description=f"{name}, served by `alexnet serve` (prefect.yaml's schedule)")
    automations.ship(f"{FLOW_NAME}/{name}", deployment.apply(), spec.heartbeat_s, target)
    # limit=1: DVC runs one repro per project at a time, as the work pool deployment's concurrency_limit
    serve_deployments(deployment, limit=1)
