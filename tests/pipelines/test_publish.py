"""The metrics artifact: which stages ran, the metrics diff table, and the report's path."""

from __future__ import annotations

from pathlib import Path

from alexnet_pipeline.reporting.report_parts import diff_table, metrics_diff
from pipelines.publish import run_markdown


def test_run_markdown_lists_stages_the_diff_and_the_report() -> None:
    diff = diff_table(metrics_diff({"accuracy": 0.5, "loss": 0.9}, {"accuracy": 0.75, "loss": 0.6}), "HEAD's")
    markdown = run_markdown("Run", diff, {"source": "ran", "download": "skipped", "train": "ran"},
                            Path("/p/reports/report.html"))
    assert markdown.splitlines() == [
        "# Run", "", "**Stages run:** source, train; **up to date:** download.", "",
        "| metric | new | old | change |", "|---|---|---|---|",
        "| accuracy | 0.7500 | 0.5000 | +0.2500 |", "| loss | 0.6000 | 0.9000 | -0.3000 |", "",
        "Baseline: HEAD's.", "", "Report: `/p/reports/report.html`"]


def test_restored_stages_are_listed_apart() -> None:
    markdown = run_markdown("Run", [], {"source": "ran", "train": "restored", "report": "skipped"}, Path("r.html"))
    assert ("**Stages run:** source; **restored from DVC's run cache:** train; **up to date:** report."
            in markdown.splitlines())
