"""The metrics artifact: which stages ran, the report's Markdown, and the report's path."""

from __future__ import annotations

from pathlib import Path

from pipelines.publish import run_markdown


def test_run_markdown_lists_stages_and_the_report() -> None:
    markdown = run_markdown("# Title\n\n| metric | new |\n", {"source": "ran", "download": "skipped",
                                                           "train": "ran"}, Path("/p/reports/report.html"))
    assert markdown.splitlines() == ["**Stages run:** source, train; **up to date:** download.", "", "# Title", "",
                                     "| metric | new |", "", "Report: `/p/reports/report.html`"]
