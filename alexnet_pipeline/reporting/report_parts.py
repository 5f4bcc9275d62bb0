"""Pieces of the report beyond charts: sample predictions with thumbnails, the drift tests and
the gallery of atypical images, the metrics diff against the last commit (read through DVC), and
the Markdown version for terminals and CI."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import random
from pathlib import Path
from typing import Any

from PIL import Image

from alexnet_pipeline.shards.images import load_rgb

log = logging.getLogger(__name__)
DIFF_KEYS = ("accuracy", "top5_accuracy", "loss", "macro_f1", "weighted_f1", "roc_auc", "average_precision")
THUMBNAIL_SIDE = 128


def thumbnail(path: Path) -> str:
    """A small JPEG of an image as a data URI (upright, RGB), or "" if it cannot be read."""
    try:
        image = load_rgb(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return ""
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def sample_predictions(predictions_csv: Path, raw_dir: Path, per_kind: int, seed: int) -> list[dict[str, Any]]:
    """Up to `per_kind` wrong predictions (the surest) and `per_kind` right ones (a seeded
    draw), each with its thumbnail from the dataset."""
    with predictions_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    wrong = sorted((r for r in rows if r["actual"] != r["predicted"]), key=lambda r: -float(r["p_predicted"]))
    right = [r for r in rows if r["actual"] == r["predicted"]]
    right = random.Random(seed).sample(right, min(per_kind, len(right)))
    return [{**row, "correct": row["actual"] == row["predicted"], "p_predicted": float(row["p_predicted"]),
             "p_actual": float(row["p_actual"]), "thumbnail": thumbnail(raw_dir / row["path"])}
            for row in wrong[:per_kind] + right]


def committed_metrics(metrics_path: Path, rev: str = "HEAD", repo: Path | None = None
                      ) -> tuple[dict[str, Any] | None, str]:
    """The metrics file as of git `rev` in `repo` (default: the working directory's), read
    through DVC (git, its cache or its remote), and a note saying where it came from or why
    there is none."""
    import dvc.api
    from dvc.exceptions import DvcException
    from scmrepo.exceptions import SCMError

    try:
        text = dvc.api.read(str(metrics_path), repo=str(repo) if repo else None, rev=rev)
        return json.loads(text), f"the metrics committed at {rev}"
    except (DvcException, SCMError, OSError, ValueError) as exc:  # no commit, lock or cached copy
        log.info("no committed metrics to compare with: %s", exc)
        return None, f"none (no metrics committed at {rev}: {type(exc).__name__})"


def metrics_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of (metric, old, new, change) for the headline metrics present in either."""
    rows = []
    for key in DIFF_KEYS:
        before = (old or {}).get(key)
        after = new.get(key)
        if before is None and after is None:
            continue
        change = after - before if isinstance(before, (int, float)) and isinstance(after, (int, float)) else None
        rows.append({"metric": key, "old": before, "new": after, "change": change})
    return rows


def _number(value: Any, signed: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def diff_table(diff: list[dict[str, Any]], baseline_note: str) -> list[str]:
    """The metrics diff as Markdown lines: a table of new, old and change, and the baseline."""
    lines = ["| metric | new | old | change |", "|---|---|---|---|"]
    lines += [f"| {row['metric']} | {_number(row['new'])} | {_number(row['old'])} | {_number(row['change'], True)} |"
              for row in diff]
    return [*lines, "", f"Baseline: {baseline_note}."]


def scored_model_text(model: dict[str, Any]) -> str:
    """Which model the test figures score and its epoch, as evaluate recorded it in the metrics."""
    best = model["choice"] == "best"
    which = "the best epoch's model" if best else "the last epoch's model"
    loss = f", lowest val loss {model['best_loss']:.4f}" if best and model["best_loss"] is not None else ""
    return f"{which} (epoch {model['epoch']} of {model['epochs_run']}{loss}), {model['path']}"


def precision_text(summary: dict[str, Any]) -> str:
    """The precision training ran in and why (a summary from before the reason was recorded has none)."""
    reason = summary.get("precision_reason")
    return f"{summary['precision']} ({reason})" if reason else summary["precision"]


def drift_tests(drift: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The drift report's statistical tests by name, in the report's order."""
    if drift["reference"] is None:
        return []
    predictions = drift.get("predictions")  # a report written before the prediction tests has none
    return [("class balance", drift["class_balance"]),
            *((f"image {name}", result) for name, result in drift["distributions"].items()),
            *([("embeddings", drift["embedding"])] if drift["embedding"] else []),
            *([("predicted classes", predictions["classes"]), ("prediction confidence", predictions["confidence"])]
              if predictions else [])]


def file_data_uri(path: Path, media_type: str = "image/jpeg") -> str:
    """A file's bytes as a data URI, or "" when there is no such file."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return ""
    return f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")


def drift_gallery(drift: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """The drift report's gallery of atypical images, each with its thumbnail (written by the gate
    into `folder`) as a data URI under `image` ("" when the file is missing)."""
    return [{**entry, "image": file_data_uri(folder / entry["thumbnail"])} for entry in drift.get("gallery") or []]


def render_markdown(title: str, metrics: dict[str, Any], diff: list[dict[str, Any]], baseline_note: str,
                    validation: dict[str, Any], summary: dict[str, Any] | None, gate_lines: list[str] = ()) -> str:
    """The report in Markdown: the gate and drift summary, headline metrics and their diff,
    per-class table, validation."""
    lines = [f"# {title}", "", *gate_lines, f"Test images: {metrics['num_examples']}; classes: {len(metrics['classes'])}.", ""]
    if summary:
        lines += [(f"Training: {summary['epochs_run']} epochs ({summary['recipe']} recipe), best epoch "
                   f"{summary['best_epoch']}, {summary['wall_time_s']} s, {summary['images_per_s']} img/s, "
                   f"{precision_text(summary)}."), ""]
    lines += [f"Scored: {scored_model_text(metrics['model'])}.", ""]
    lines += diff_table(diff, baseline_note)
    lines += ["", "| class | precision | recall | F1 | support |",
              "|---|---|---|---|---|"]
    lines += [f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
              for name, m in metrics["per_class"].items()]
    counts = validation["counts"]
    lines += ["", (f"Validation: {'passed' if validation['success'] else 'issues found'}; {counts['files']} files, "
                   f"{counts['invalid']} invalid, {counts['duplicates']} duplicates, {counts['leaked']} shared "
                   f"between splits, {counts['usable']} used."), ""]
    return "\n".join(lines)
