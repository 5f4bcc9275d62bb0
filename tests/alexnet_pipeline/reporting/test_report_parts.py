"""Report parts: sample predictions with thumbnails, the metrics diff, the Markdown report."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from alexnet_pipeline.reporting.report_parts import (
    committed_metrics,
    metrics_diff,
    precision_text,
    render_markdown,
    sample_predictions,
    thumbnail,
)
from tests.helpers import write_image

NEW = {"accuracy": 0.75, "loss": 0.5, "macro_f1": 0.7, "weighted_f1": 0.71, "num_examples": 4, "classes": ["a", "b"],
       "per_class": {"a": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2},
                     "b": {"precision": 0.667, "recall": 1.0, "f1": 0.8, "support": 2}},
       "model": {"choice": "best", "path": "models/alexnet.best.keras", "epoch": 2, "epochs_run": 3, "best_epoch": 2,
                 "best_loss": 0.4567}}
VALIDATION = {"success": True, "counts": {"files": 9, "invalid": 0, "duplicates": 1, "leaked": 0, "usable": 8}}


def test_thumbnail_is_a_small_jpeg_or_empty(tmp_path: Path) -> None:
    uri = thumbnail(write_image(tmp_path / "big.png", size=(400, 200), fmt="PNG"))
    with Image.open(io.BytesIO(base64.b64decode(uri.removeprefix("data:image/jpeg;base64,")))) as image:
        assert image.format == "JPEG" and image.size == (128, 64)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert thumbnail(tmp_path / "broken.jpg") == ""


def test_sample_predictions_take_the_surest_mistakes_and_a_seeded_draw_of_right_ones(tmp_path: Path) -> None:
    rows = ["path,actual,predicted,p_predicted,p_actual"] + [
        f"test/a/{i}.jpg,a,{'b' if i < 3 else 'a'},{0.5 + i / 20},{0.4}" for i in range(8)]
    (tmp_path / "predictions.csv").write_text("\n".join(rows) + "\n")
    for i in range(8):
        write_image(tmp_path / "raw" / f"test/a/{i}.jpg")
    samples = sample_predictions(tmp_path / "predictions.csv", tmp_path / "raw", per_kind=2, seed=1)
    assert [s["path"] for s in samples[:2]] == ["test/a/2.jpg", "test/a/1.jpg"]  # surest wrong first
    assert [s["correct"] for s in samples] == [False, False, True, True]
    assert all(s["thumbnail"].startswith("data:image/jpeg;base64,") for s in samples)
    again = sample_predictions(tmp_path / "predictions.csv", tmp_path / "raw", per_kind=2, seed=1)
    assert [s["path"] for s in again] == [s["path"] for s in samples]


def test_metrics_diff_rows() -> None:
    rows = {row["metric"]: row for row in metrics_diff({"accuracy": 0.5, "loss": 0.7}, NEW)}
    assert rows["accuracy"]["change"] == 0.25
    assert abs(rows["loss"]["change"] - (-0.2)) < 1e-9
    assert rows["macro_f1"] == {"metric": "macro_f1", "old": None, "new": 0.7, "change": None}
    assert "roc_auc" not in rows  # in neither
    assert all(row["old"] is None for row in metrics_diff(None, NEW))


def test_markdown_report() -> None:
    summary = {"epochs_run": 3, "recipe": "custom", "best_epoch": 2, "wall_time_s": 12.5,
               "images_per_s": 40.1, "precision": "mixed_float16",
               "precision_reason": "auto: GPU compute capability 7.5 (before 8.0) has no fast bf16"}
    text = render_markdown("My run", NEW, metrics_diff({"accuracy": 0.5}, NEW),
                           "the metrics committed at HEAD", VALIDATION, summary)
    assert text.splitlines() == [
        "# My run", "",
        "Test images: 4; classes: 2.", "",
        ("Training: 3 epochs (custom recipe), best epoch 2, 12.5 s, 40.1 img/s, mixed_float16 "
         "(auto: GPU compute capability 7.5 (before 8.0) has no fast bf16)."), "",
        ("Scored: the best epoch's model (epoch 2 of 3, lowest val loss 0.4567), "
         "models/alexnet.best.keras."), "",
        "| metric | new | old | change |", "|---|---|---|---|",
        "| accuracy | 0.7500 | 0.5000 | +0.2500 |",
        "| loss | 0.5000 | - | - |",
        "| macro_f1 | 0.7000 | - | - |",
        "| weighted_f1 | 0.7100 | - | - |", "",
        "Baseline: the metrics committed at HEAD.", "",
        "| class | precision | recall | F1 | support |", "|---|---|---|---|---|",
        "| a | 1.000 | 0.500 | 0.667 | 2 |",
        "| b | 0.667 | 1.000 | 0.800 | 2 |", "",
        "Validation: passed; 9 files, 0 invalid, 1 duplicates, 0 shared between splits, 8 used."]


def test_a_summary_without_a_precision_reason_names_the_precision_alone() -> None:
    assert precision_text({"precision": "float32"}) == "float32"


def test_no_committed_metrics_outside_a_repository(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    metrics, note = committed_metrics(Path("reports/metrics.json"))
    assert metrics is None and note.startswith("none (no metrics committed at HEAD")
