"""Run records of the flow tests, read from the Prefect test server."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import Artifact, State, TaskRun


def task_runs(flow_state: State) -> dict[str, TaskRun]:
    """The flow run's task runs by name (stage tasks are named after their stage)."""
    flow_run_id = flow_state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {run.name: run for run in runs}


def state_names(task_run_id: UUID) -> list[str]:
    """The names of a task run's states, oldest first."""
    with get_client(sync_client=True) as client:
        states = client.read_task_run_states(task_run_id)
    return [state.name for state in sorted(states, key=lambda state: state.timestamp)]


def artifacts(flow_state: State) -> dict[str, Artifact]:
    """The flow run's artifacts by key."""
    flow_run_id = flow_state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {artifact.key: artifact for artifact in found}
