"""report: one self-contained HTML page (charts and thumbnails embedded) a person reads after a
run, and its headline figures in Markdown for terminals and CI.

`paths.report` gathers the data source and counts, the validation result (linking the Data
Docs), the params, the model's layers, the training curves and summary, the test metrics with
the confusion matrix and per-class table, sample predictions right and wrong, and the metrics
diff against the last commit (read through DVC). `paths.report_markdown` has the metrics, their
diff, the per-class table and the validation counts.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import jinja2
import yaml

from alexnet_pipeline.config import Params
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import (
    LAYOUT_FILE,
    MODEL_SUMMARY_FILE,
    PREDICTIONS_FILE,
    SPLITS_FILE,
    TRAIN_SUMMARY_FILE,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.reporting import charts, report_parts

log = logging.getLogger(__name__)
TEMPLATE = "report.html.j2"
HISTORY_SPLITS = {"train": "train", "eval": "val"}  # dvclive folder -> name shown
SAMPLES_PER_KIND = 6  # sample predictions shown: the surest wrong ones and a draw of right ones


def read_history(train_logs: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """dvclive's per-epoch TSVs (`plots/metrics/<train|eval>/<metric>.tsv`) as {metric: {split: points}}."""
    history: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for folder, split in HISTORY_SPLITS.items():
        for tsv in sorted((train_logs / "plots" / "metrics" / folder).glob("*.tsv")):
            with tsv.open(newline="") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            points = [(int(row["step"]), float(row[tsv.stem])) for row in rows]
            history.setdefault(tsv.stem, {})[split] = points
    return history


def _plain(value: Any) -> Any:
    """Params dataclasses to plain YAML-friendly values (paths and tuples included)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def render_report(params: Params, layout: dict[str, Any], splits: dict[str, dict[str, int]],
                  validation: dict[str, Any], metrics: dict[str, Any],
                  history: dict[str, dict[str, list[tuple[int, float]]]], data_docs: str = "", *,
                  model: dict[str, Any] | None = None, summary: dict[str, Any] | None = None,
                  samples: list[dict[str, Any]] = (), diff: list[dict[str, Any]] = (),
                  baseline_note: str = "") -> str:
    """The report's HTML from the run's results; images are embedded as data URIs, and
    `data_docs` is the link (relative to the report) to the GX Data Docs."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("alexnet_pipeline.reporting", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    classes = metrics["classes"]
    return environment.get_template(TEMPLATE).render(
        title=params.report.title, params=params, layout=layout, splits=splits,
        validation=validation, metrics=metrics, classes=classes,
        curves=charts.training_curves(history) if history else "",
        confusion=charts.confusion_heatmap(metrics["confusion_matrix"], classes),
        params_yaml=yaml.safe_dump(_plain(params), sort_keys=False), data_docs=data_docs,
        model=model, summary=summary, samples=list(samples), diff=list(diff), baseline_note=baseline_note,
        scored_model=report_parts.scored_model_text(metrics["model"]),
        precision=report_parts.precision_text(summary) if summary else "",
    )


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _read_optional_json(path: Path) -> Any:
    return _read_json(path) if path.exists() else None


def main(params: Params) -> None:
    """Write paths.report and paths.report_markdown from the outputs of the earlier stages."""
    paths = params.paths
    metrics, validation = _read_json(paths.metrics), _read_json(paths.validation_report)
    summary = _read_optional_json(paths.train_logs / TRAIN_SUMMARY_FILE)
    old_metrics, baseline_note = report_parts.committed_metrics(paths.metrics)
    diff = report_parts.metrics_diff(old_metrics, metrics)
    predictions = paths.eval_plots / PREDICTIONS_FILE
    samples = (report_parts.sample_predictions(predictions, paths.raw, SAMPLES_PER_KIND, params.base.seed)
               if predictions.exists() else [])
    html = render_report(
        params,
        layout=_read_json(paths.raw / LAYOUT_FILE),
        splits=_read_json(paths.processed / SPLITS_FILE),
        validation=validation,
        metrics=metrics,
        history=read_history(paths.train_logs),
        data_docs=os.path.relpath(paths.data_docs / "index.html", paths.report.parent),
        model=_read_optional_json(paths.train_logs / MODEL_SUMMARY_FILE), summary=summary,
        samples=samples, diff=diff, baseline_note=baseline_note,
    )
    atomic.write_text(paths.report, html)
    atomic.write_text(paths.report_markdown, report_parts.render_markdown(
        params.report.title, metrics, diff, baseline_note, validation, summary))
    log.info("report written to %s and %s", paths.report, paths.report_markdown)


if __name__ == "__main__":
    run_stage("report", main)
