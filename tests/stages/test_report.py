"""report: one self-contained HTML page from the run's results, built here by hand."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.artifacts import LAYOUT_FILE, SPLITS_FILE
from alexnet_pipeline.core.stage_runner import run_stage
from stages.report import main, render_report
from tests.helpers import write_params

CLASSES = ["ocelot", "zebra"]
LAYOUT = {"source": "sample", "seed": 42, "splits": {"train": {"ocelot": 5, "zebra": 5},
                                                     "test": {"ocelot": 2, "zebra": 2}},
          "classes": CLASSES}
SPLITS = {"train": {"ocelot": 4, "zebra": 4}, "val": {"ocelot": 1, "zebra": 1},
          "test": {"ocelot": 2, "zebra": 2}}
VALIDATION = {
    "success": False,
    "policies": {"on_invalid": "quarantine", "on_duplicate": "drop", "on_leakage": "drop"},
    "counts": {"files": 16, "invalid": 1, "duplicates": 0, "leaked": 1, "dropped": 1, "usable": 14,
               "by_split": {"train": {"ocelot": 5, "zebra": 4}, "test": {"ocelot": 2, "zebra": 2}}},
    "invalid": [{"path": "train/zebra/broken_file_7.jpg", "reason": "empty file (0 bytes)"}],
    "duplicates": [],
    "leakage": [{"path": "test/ocelot/copy_of_3.jpg", "split": "test", "same_as": "train/ocelot/3.jpg",
                 "dropped": True}],
    "expectations": [{"expectation": "expect_column_values_to_be_in_set", "column": "ok",
                      "success": False, "unexpected_count": 1, "description": "the file decodes"}],
    "class_expectations": [{"expectation": "expect_column_values_to_be_between", "column": "count",
                            "success": True, "unexpected_count": 0,
                            "description": "at least 2 train images", "failing_classes": {}}],
}
METRICS = {
    "accuracy": 0.857143, "loss": 0.4321, "macro_f1": 0.8, "weighted_f1": 0.81, "num_examples": 4,
    "per_class": {"ocelot": {"precision": 1.0, "recall": 0.5, "f1": 0.666667, "support": 2},
                  "zebra": {"precision": 0.666667, "recall": 1.0, "f1": 0.8, "support": 2}},
    "confusion_matrix": [[1, 1], [0, 2]], "confusion_matrix_normalized": [[0.5, 0.5], [0.0, 1.0]], "classes": CLASSES,
    "model": {"choice": "best", "path": "models/alexnet.best.keras", "epoch": 5, "epochs_run": 6, "best_epoch": 5,
              "best_loss": 0.31},
}
HISTORY = {"loss": {"train": [(0, 1.2), (1, 0.9)], "val": [(0, 1.3), (1, 1.0)]},
           "accuracy": {"train": [(0, 0.4), (1, 0.6)], "val": [(0, 0.5), (1, 0.55)]}}


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("report")
    return load_params(write_params(root, report__title="Run <b>seven</b> & co"))


def _data_uris(html: str) -> list[str]:
    return re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)


def test_report_is_self_contained_with_embedded_charts(params) -> None:
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, METRICS, HISTORY)
    uris = _data_uris(html)
    assert len(uris) == 2  # training curves and confusion matrix
    for uri in uris:
        with Image.open(io.BytesIO(base64.b64decode(uri))) as png:
            assert png.format == "PNG" and png.width > 100 and png.height > 100
    assert not re.search(r"https?://", html)  # nothing fetched from anywhere
    for reference in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html):
        assert reference.startswith("data:"), reference
    assert "<script" not in html and "<link" not in html


def test_report_shows_the_results(params) -> None:
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, METRICS, HISTORY)
    assert "0.857" in html  # test accuracy, to three places
    assert "0.432" in html  # test loss
    for name in CLASSES:
        assert name in html
    assert "train/zebra/broken_file_7.jpg" in html and "empty file (0 bytes)" in html
    assert "on_invalid: quarantine" in html
    assert "image size 227" in html
    assert "learning_rate" in html  # the params are shown
    assert html.lstrip().lower().startswith("<!doctype html>") and html.rstrip().endswith("</html>")


def test_user_text_is_escaped(params) -> None:
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, METRICS, HISTORY)
    assert "<b>seven</b>" not in html
    assert "Run &lt;b&gt;seven&lt;/b&gt; &amp; co" in html


def test_report_without_training_history(params) -> None:
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, METRICS, {})
    assert len(_data_uris(html)) == 1  # only the confusion matrix
    assert "No training history found" in html


FIRST_GATE = {
    "status": "promoted", "promoted": True, "message": "promoted as v1.0.0", "reasons": [],
    "checks": [{"name": "min_accuracy", "passed": True, "detail": "test accuracy 0.8571 (gate.min_accuracy 0.5)"}],
    "candidate": {"version": "v1.0.0", "accuracy": 0.857143, "loss": 0.5, "per_class_recall": {"ocelot": 1.0}},
    "blessed": None, "blessed_note": "nothing is blessed yet: the candidate is judged on the thresholds",
    "serving_version": "v1.0.0", "thresholds": {"min_accuracy": 0.5, "min_class_recall": None, "max_regression": 0.02},
    "on_reject": "warn", "drift": {"drifted": False, "findings": [], "on_drift": "warn"}}
FIRST_DRIFT = {"reference": None, "current": {"images": 7, "classes": ["ocelot", "zebra"]}, "drifted": False,
               "findings": [], "on_drift": "warn"}


def _write_inputs(params) -> None:
    paths = params.paths
    for path, data in ((paths.raw / LAYOUT_FILE, LAYOUT), (paths.processed / SPLITS_FILE, SPLITS),
                       (paths.validation_report, VALIDATION), (paths.metrics, METRICS),
                       (paths.gate, FIRST_GATE), (paths.drift, FIRST_DRIFT)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))


def test_main_writes_the_report(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path))
    _write_inputs(params)
    main(params)
    html = params.paths.report.read_text()
    assert "AlexNet pipeline report" in html and len(_data_uris(html)) == 1
    assert '<a href="data_docs/index.html">Data Docs</a>' in html  # relative to reports/
    assert "Baseline: none (no metrics committed at HEAD" in html  # no git repository here
    assert "Model gate: promoted" in html and "No blessed model yet: nothing to compare this data with." in html
    assert html.index('id="gate"') < html.index("test accuracy<b>")  # the gate's section comes first
    markdown = params.paths.report_markdown.read_text()
    assert markdown.startswith("# AlexNet pipeline report\n\n## Model gate: Promoted")
    assert "| accuracy | 0.8571 | - | - |" in markdown


def test_report_lists_validation_findings(params) -> None:
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, METRICS, HISTORY)
    assert "train/zebra/broken_file_7.jpg" in html and "empty file (0 bytes)" in html
    assert "Shared between splits (leakage)" in html and "test/ocelot/copy_of_3.jpg" in html
    assert "Duplicates within a split" not in html  # none found
    assert "<code>on_leakage: drop</code>" in html


def test_main_names_a_missing_input(tmp_path: Path, capsys) -> None:
    params_file = write_params(tmp_path)
    params = load_params(params_file)
    _write_inputs(params)
    params.paths.metrics.unlink()
    with pytest.raises(SystemExit) as stopped:
        run_stage("report", main, ["--params", str(params_file)])
    assert stopped.value.code == 1
    error = capsys.readouterr().err
    assert f"error: report: {params.paths.metrics}: not found; run the earlier stages first" in error
    assert not params.paths.report.exists()


MODEL = {"name": "alexnet", "total_params": 58289538, "trainable_params": 58289000,
         "layers": [{"name": "conv1", "type": "Conv2D", "output_shape": [55, 55, 96], "params": 34944}]}
SUMMARY = {"epochs_run": 6, "recipe": "paper", "resumed_from_epoch": 2, "stopped_early": False, "best_epoch": 5,
           "best_loss": 0.41, "wall_time_s": 88.0, "images_per_s": 37.5, "devices": ["CPU"],
           "precision": "mixed_bfloat16", "precision_reason": "auto: the CPU has avx512_bf16"}
SAMPLES = [{"path": "test/zebra/1.jpg", "actual": "zebra", "predicted": "ocelot", "p_predicted": 0.91,
            "p_actual": 0.09, "correct": False, "thumbnail": "data:image/jpeg;base64,/9j/AAAA"},
           {"path": "test/ocelot/2.jpg", "actual": "ocelot", "predicted": "ocelot", "p_predicted": 0.8,
            "p_actual": 0.8, "correct": True, "thumbnail": "data:image/jpeg;base64,/9j/BBBB"}]
DIFF = [{"metric": "accuracy", "old": 0.6, "new": 0.857143, "change": 0.257143},
        {"metric": "loss", "old": 0.5, "new": 0.4321, "change": -0.0679}]


def test_report_shows_model_summary_samples_and_the_diff(params) -> None:
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, METRICS, HISTORY, model=MODEL, summary=SUMMARY,
                         samples=SAMPLES, diff=DIFF, baseline_note="the metrics committed at HEAD")
    assert "58,289,538 parameters" in html and "55 x 55 x 96" in html and "34,944" in html
    assert "6 epochs (paper recipe, resumed from epoch 2); best epoch 5" in html
    assert "88.0 s at 37.5 images/s on CPU in mixed_bfloat16 (auto: the CPU has avx512_bf16)." in html
    assert ("Scored: the best epoch&#39;s model (epoch 5 of 6, lowest val loss 0.3100), "
            "models/alexnet.best.keras.") in html
    assert 'class="wrong"' in html and 'class="right"' in html and "truly zebra (0.09)" in html
    assert "data:image/jpeg;base64,/9j/AAAA" in html
    assert "Baseline: the metrics committed at HEAD." in html
    assert '<td class="ok">+0.2571</td>' in html and '<td class="ok">-0.0679</td>' in html  # loss fell: good


def test_report_names_the_kaggle_dataset_and_version(params) -> None:
    layout = {**LAYOUT, "source": "kaggle", "dataset": "tongpython/cat-and-dog", "version": 1}
    html = render_report(params, layout, SPLITS, VALIDATION, METRICS, HISTORY)
    assert "<code>kaggle</code> dataset tongpython/cat-and-dog version 1" in html


def test_report_names_the_last_epochs_model_when_that_is_scored(params) -> None:
    last = {**METRICS, "model": {**METRICS["model"], "choice": "last", "epoch": 6, "path": "models/alexnet.keras"}}
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, last, HISTORY)
    assert "Scored: the last epoch&#39;s model (epoch 6 of 6), models/alexnet.keras." in html
