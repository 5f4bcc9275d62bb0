"""Prefect artifacts of a finished run: the metrics table with its diff against the metrics of
the last git commit (computed now, so a commit since the report stage ran counts), the model
gate's decision with the data drift summary, and a link to the HTML report."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.contracts import (
    DriftReport,
    EvaluationMetrics,
    GateDecision,
    read_contract,
)
from alexnet_pipeline.reporting import gate_summary, report_parts
from pipelines.exits import exit_is_failure
from pipelines.overrides import PARAMS_FILE

METRICS_KEY = "alexnet-metrics"
GATE_KEY = "alexnet-gate"
REPORT_KEY = "alexnet-report"


def run_markdown(title: str, diff_lines: list[str], outcome: dict[str, str], report: Path) -> str:
    """The metrics artifact: which stages ran, the metrics diff table, and where the report is."""
    def stages(kind: str) -> str:
        return ", ".join(stage for stage, did in outcome.items() if did == kind) or "none"

    restored = f" **restored from DVC's run cache:** {stages('restored')};" if "restored" in outcome.values() else ""
    return "\n".join([
        f"# {title}", "",
        f"**Stages run:** {stages('ran')};{restored} **up to date:** {stages('skipped')}.", "",
        *diff_lines, "", f"Report: `{report}`", ""])


@task(name="publish results", task_run_name="publish results", cache_policy=NO_CACHE)
@exit_is_failure
def publish_results(project_dir: str, outcome: dict[str, str]) -> Path:
    """Attach the metrics, diffed against those of the last git commit, and the report link to
    this flow run; return the report's path."""
    project = Path(project_dir)
    params = load_params(project / PARAMS_FILE)
    paths = params.paths
    metrics = read_contract(EvaluationMetrics, project / paths.metrics).model_dump(mode="json", exclude_unset=True)
    committed, baseline_note = report_parts.committed_metrics(paths.metrics, repo=project)
    diff_lines = report_parts.diff_table(report_parts.metrics_diff(committed, metrics), baseline_note)
    report = project / paths.report
    create_markdown_artifact(key=METRICS_KEY, markdown=run_markdown(params.report.title, diff_lines, outcome, report),
                             description="Test metrics, and their change since the metrics in the last git commit")
    decision = read_contract(GateDecision, project / paths.gate).model_dump(mode="json")
    drift = read_contract(DriftReport, project / paths.drift).model_dump(mode="json")
    create_markdown_artifact(key=GATE_KEY, markdown="\n".join(gate_summary.gate_markdown(decision, drift)),
                             description="The model gate's decision, both models' figures, and data drift")
    create_link_artifact(key=REPORT_KEY, link=report.as_uri(), link_text=str(paths.report),
                         description="The run's HTML report (data, validation, training, evaluation)")
    get_run_logger().info("report: %s", report)
    return report
