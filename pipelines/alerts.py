"""The events a run emits when its gate ran: the decision (a model promoted or rejected) and the
data drift found. The deployment's alert automations (pipelines/automations.py) turn each into
one notification; a gate that was up to date decided nothing new, so it emits nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.contracts import DriftReport, GateDecision, read_contract
from pipelines.exits import exit_is_failure
from pipelines.overrides import PARAMS_FILE

DECISION_EVENTS = {"promoted": "alexnet.model.promoted", "rejected": "alexnet.model.rejected"}
DRIFT_EVENT = "alexnet.data.drifted"


def run_events(decision: GateDecision, drift: DriftReport, report: Path) -> list[tuple[str, dict[str, Any]]]:
    """The events (name, payload) of a gate decision and its drift report: one for a promoted or
    rejected model (none when the candidate is the blessed model already), one for drift found.
    Each payload has a one-line `headline`, the `message` and the `report`'s file URL."""
    events = []
    if decision.status in DECISION_EVENTS:
        accuracy = decision.candidate.accuracy
        headline = (f"alexnet-pipeline: {decision.candidate.version} promoted (accuracy {accuracy:.4f})"
                    if decision.promoted else f"alexnet-pipeline: candidate rejected (accuracy {accuracy:.4f}); "
                    f"{decision.serving_version or 'nothing'} stays in serving")
        events.append((DECISION_EVENTS[decision.status], {
            "headline": headline, "message": decision.message, "status": decision.status,
            "version": decision.candidate.version, "serving_version": decision.serving_version,
            "accuracy": accuracy, "report": report.as_uri()}))
    if drift.drifted:
        reference = (drift.reference or {}).get("version")
        events.append((DRIFT_EVENT, {
            "headline": f"alexnet-pipeline: the data drifted from {reference}'s ({len(drift.findings)} finding(s))",
            "message": "\n".join(f"- {finding}" for finding in drift.findings), "findings": drift.findings,
            "on_drift": drift.on_drift, "report": report.as_uri()}))
    return events


@task(name="announce", task_run_name="announce", cache_policy=NO_CACHE)
@exit_is_failure
def announce(project_dir: str) -> list[str]:
    """Emit the events of the gate's decision and drift report in the project; return their names."""
    project = Path(project_dir)
    paths = load_params(project / PARAMS_FILE).paths
    events = run_events(read_contract(GateDecision, project / paths.gate),
                        read_contract(DriftReport, project / paths.drift), project / paths.report)
    for name, payload in events:
        emit_event(event=name, payload=payload,
                   resource={"prefect.resource.id": f"alexnet.project.{project}", "prefect.resource.name": project.name})
    get_run_logger().info("events: %s", ", ".join(name for name, _ in events) or "none (nothing to alert)")
    return [name for name, _ in events]
