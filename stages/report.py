"""report: one self-contained HTML page (charts and thumbnails embedded) a person reads after a
run, and its headline figures in Markdown for terminals and CI.

`paths.report` opens with the model gate's decision (promoted or not, both models' figures, the
checks) and the data drift against the blessed model's data (with the blessed model's
predictions on both and a gallery of the most atypical new images), then gathers the data source and counts, the validation result (linking the Data
Docs), the params, the model's layers, the training curves and summary, the test metrics with
the confusion matrix and per-class table, sample predictions right and wrong, and the metrics
diff against the last commit (read through DVC), and the blessed model's card. `paths.report_markdown`
has the metrics, their diff, the per-class table and the validation counts; `paths.model_card` is
the blessed version's card (from the blessed store, where the gate wrote it when it blessed it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel

from alexnet_pipeline.config import Params
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import (
    LAYOUT_FILE,
    MODEL_SUMMARY_FILE,
    PREDICTIONS_FILE,
    SPLITS_FILE,
    TRAIN_SUMMARY_FILE,
)
from alexnet_pipeline.core.contracts import (
    DatasetLayout,
    DriftReport,
    EvaluationMetrics,
    GateDecision,
    ModelSummary,
    SplitCounts,
    TrainSummary,
    ValidationReport,
    read_contract,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.registry.blessed_store import read_blessed
from alexnet_pipeline.reporting import charts, gate_summary, report_parts
from alexnet_pipeline.reporting.model_card import NO_CARD, card_markdown
from alexnet_pipeline.reporting.training_history import read_history

log = logging.getLogger(__name__)
TEMPLATE = "report.html.j2"
SAMPLES_PER_KIND = 6  # sample predictions shown: the surest wrong ones and a draw of right ones


def render_report(params: Params, layout: dict[str, Any], splits: dict[str, dict[str, int]],
                  validation: dict[str, Any], metrics: dict[str, Any],
                  history: dict[str, dict[str, list[tuple[int, float]]]], data_docs: str = "", *,
                  model: dict[str, Any] | None = None, summary: dict[str, Any] | None = None,
                  samples: list[dict[str, Any]] = (), diff: list[dict[str, Any]] = (),
                  baseline_note: str = "", gate: dict[str, Any] | None = None,
                  drift: dict[str, Any] | None = None, card: dict[str, Any] | None = None,
                  gallery: list[dict[str, Any]] = ()) -> str:
    """The report's HTML from the run's results; images are embedded as data URIs, `data_docs`
    is the link (relative to the report) to the GX Data Docs, and `gallery` the drift report's
    atypical images with their thumbnails (`report_parts.drift_gallery`)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("alexnet_pipeline.reporting", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    classes = metrics["classes"]
    return environment.get_template(TEMPLATE).render(
        title=params.report.title, params=params, layout=layout, splits=splits,
        validation=validation, metrics=metrics, classes=classes,
        curves=charts.training_curves(history) if history else "",
        confusion=charts.confusion_heatmap(metrics["confusion_matrix"], classes),
        params_yaml=yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False), data_docs=data_docs,
        model=model, summary=summary, samples=list(samples), diff=list(diff), baseline_note=baseline_note,
        scored_model=report_parts.scored_model_text(metrics["model"]),
        precision=report_parts.precision_text(summary) if summary else "",
        gate=gate, drift=drift, drift_tests=report_parts.drift_tests(drift) if drift else [],
        drift_chart=charts.drift_charts(drift) if drift and drift["reference"] is not None else "",
        prediction_chart=(charts.prediction_charts(drift["predictions"], drift["reference"]["version"])
                          if drift and drift["reference"] is not None and drift.get("predictions") else ""),
        gallery=list(gallery), card=card,
    )


def read_plain(model: type[BaseModel], path: Path) -> Any:
    """The file's checked content as plain JSON values, as the template and the Markdown use it."""
    return read_contract(model, path).model_dump(mode="json", exclude_unset=True)


def read_optional(model: type[BaseModel], path: Path) -> Any:
    return read_plain(model, path) if path.exists() else None


def main(params: Params) -> None:
    """Write paths.report and paths.report_markdown from the outputs of the earlier stages."""
    paths = params.paths
    metrics = read_plain(EvaluationMetrics, paths.metrics)
    validation = read_plain(ValidationReport, paths.validation_report)
    gate, drift = read_plain(GateDecision, paths.gate), read_plain(DriftReport, paths.drift)
    summary = read_optional(TrainSummary, paths.train_logs / TRAIN_SUMMARY_FILE)
    blessed = read_blessed(paths.blessed)
    card = blessed.card() if blessed else None
    card_data = card.model_dump(mode="json") if card else None
    old_metrics, baseline_note = report_parts.committed_metrics(paths.metrics)
    diff = report_parts.metrics_diff(old_metrics, metrics)
    predictions = paths.eval_plots / PREDICTIONS_FILE
    samples = (report_parts.sample_predictions(predictions, paths.raw, SAMPLES_PER_KIND, params.base.seed)
               if predictions.exists() else [])
    html = render_report(
        params,
        layout=read_plain(DatasetLayout, paths.raw / LAYOUT_FILE),
        splits=read_plain(SplitCounts, paths.processed / SPLITS_FILE),
        validation=validation,
        metrics=metrics,
        history=read_history(paths.train_logs),
        data_docs=os.path.relpath(paths.data_docs / "index.html", paths.report.parent),
        model=read_optional(ModelSummary, paths.train_logs / MODEL_SUMMARY_FILE), summary=summary,
        samples=samples, diff=diff, baseline_note=baseline_note, gate=gate, drift=drift, card=card_data,
        gallery=report_parts.drift_gallery(drift, paths.drift_gallery),
    )
    atomic.write_text(paths.report, html)
    atomic.write_text(paths.report_markdown, report_parts.render_markdown(
        params.report.title, metrics, diff, baseline_note, validation, summary, gate_summary.gate_markdown(gate, drift)))
    atomic.write_text(paths.model_card, card_markdown(card_data) if card_data else NO_CARD)
    log.info("report written to %s, %s and %s", paths.report, paths.report_markdown, paths.model_card)


if __name__ == "__main__":
    run_stage("report", main)
