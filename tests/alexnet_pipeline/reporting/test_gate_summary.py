"""gate_summary: the gate's decision and the drift summary as the lines of report.md."""

from __future__ import annotations

from alexnet_pipeline.reporting.gate_summary import gate_markdown

FIGURES = {"per_class_recall": {}}
FIRST = {
    "status": "promoted", "message": "promoted as v1.0.0", "serving_version": "v1.0.0",
    "candidate": {**FIGURES, "version": "v1.0.0", "accuracy": 0.625, "loss": 0.875},
    "blessed": None, "blessed_note": "nothing is blessed yet",
    "checks": [{"name": "min_accuracy", "passed": True, "detail": "0.6250 >= 0.5"}]}
NO_REFERENCE = {"reference": None, "current": {"images": 12}, "findings": [], "on_drift": "warn"}


def test_a_first_promotion_has_no_blessed_model_and_no_drift_to_show() -> None:
    assert gate_markdown(FIRST, NO_REFERENCE) == [
        "## Model gate: Promoted", "", "promoted as v1.0.0.", "",
        "Serving (blessed) version after this run: **v1.0.0**", "",
        "| | candidate | blessed |", "|---|---|---|",
        "| version | v1.0.0 | none |",
        "| test accuracy | 0.6250 | – |",
        "| test loss | 0.8750 | – |", "",
        "Compared: nothing is blessed yet.", "",
        "- pass `min_accuracy`: 0.6250 >= 0.5", "",
        "## Data drift", "",
        "No blessed model yet: nothing to compare this data with.", ""]


def test_the_same_model_again_against_undrifted_data() -> None:
    decision = {**FIRST, "status": "already blessed", "message": "v1.0.0 again",
                "candidate": {**FIRST["candidate"], "version": None},
                "blessed": {**FIGURES, "version": "v1.0.0", "accuracy": 0.5, "loss": 1.25},
                "checks": [{"name": "same_weights", "passed": False, "detail": "no new model"}]}
    test = {"test": "ks", "statistic": 0.125, "p_value": 0.5, "effect": 0.125, "drifted": False}
    drift = {"reference": {"version": "v1.0.0", "images": 10}, "current": {"images": 12},
             "on_drift": "fail", "findings": [], "class_balance": {**test, "test": "chi2"},
             "distributions": {"width": test}, "embedding": None,
             "files": {"added": 2, "removed": 0, "changed": 1, "unchanged": 9},
             "leakage": {"count": 0}}
    lines = gate_markdown(decision, drift)
    assert lines[0] == "## Model gate: Already blessed"
    assert lines[8:13] == ["| version | not promoted | v1.0.0 |",
                           "| test accuracy | 0.6250 | 0.5000 |",
                           "| test loss | 0.8750 | 1.2500 |", "",
                           "Compared: nothing is blessed yet."]
    assert "- FAIL `same_weights`: no new model" in lines
    assert lines[lines.index("## Data drift"):] == [
        "## Data drift", "",
        "Against the data of v1.0.0 (10 images; now 12); drift.on_drift: fail.", "",
        "No drift found.", "",
        "| check | statistic | p-value | effect | drift |", "|---|---|---|---|---|",
        "| class balance (chi2) | 0.125 | 0.5 | 0.125 | no |",
        "| image width (ks) | 0.125 | 0.5 | 0.125 | no |", "",
        ("Files: 2 added, 0 removed, 1 changed, 9 unchanged. Leakage across versions: 0 new train "
         "images identical to the blessed data's test images."), ""]
