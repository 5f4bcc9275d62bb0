"""report: one self-contained HTML page (charts embedded) a person reads after a run.

It gathers the data layout, the validation result, the params, the training curves (dvclive
history), the test metrics and the confusion matrix into `paths.report`.
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

from alexnet_pipeline import atomic, charts
from alexnet_pipeline.artifacts import LAYOUT_FILE, SPLITS_FILE
from alexnet_pipeline.config import Params
from alexnet_pipeline.stage_runner import run_stage

log = logging.getLogger(__name__)
TEMPLATE = "report.html.j2"
HISTORY_SPLITS = {"train": "train", "eval": "val"}  # dvclive folder -> name shown


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
                  history: dict[str, dict[str, list[tuple[int, float]]]], data_docs: str = "") -> str:
    """The report's HTML from the run's results; images are embedded as data URIs, and
    `data_docs` is the link (relative to the report) to the GX Data Docs."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("alexnet_pipeline", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    classes = metrics["classes"]
    return environment.get_template(TEMPLATE).render(
        title=params.report.title, params=params, layout=layout, splits=splits,
        validation=validation, metrics=metrics, classes=classes,
        curves=charts.training_curves(history) if history else "",
        confusion=charts.confusion_heatmap(metrics["confusion_matrix"], classes),
        params_yaml=yaml.safe_dump(_plain(params), sort_keys=False), data_docs=data_docs,
    )


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def main(params: Params) -> None:
    """Write paths.report from the outputs of the earlier stages."""
    paths = params.paths
    html = render_report(
        params,
        layout=_read_json(paths.raw / LAYOUT_FILE),
        splits=_read_json(paths.processed / SPLITS_FILE),
        validation=_read_json(paths.validation_report),
        metrics=_read_json(paths.metrics),
        history=read_history(paths.train_logs),
        data_docs=os.path.relpath(paths.data_docs / "index.html", paths.report.parent),
    )
    atomic.write_text(paths.report, html)
    log.info("report written to %s", paths.report)


if __name__ == "__main__":
    run_stage("report", main)
