"""The gate's decision: thresholds, regression against the blessed model, drift, same model."""

from __future__ import annotations

import pytest

from alexnet_pipeline.config import params_from_dict
from alexnet_pipeline.registry.gate import decide
from tests.helpers import set_key, shipped_params_dict

NO_DRIFT = {"drifted": False, "findings": []}


def _config(**changes):
    data = shipped_params_dict()
    for key, value in changes.items():
        set_key(data, key.replace("__", "."), value)
    params = params_from_dict(data)
    return params.gate, params.drift


def _figures(accuracy: float, version: str | None = None, recall: float = 0.9) -> dict:
    return {"version": version, "accuracy": accuracy, "loss": 1 - accuracy,
            "per_class_recall": {"cat": recall, "dog": 0.95}}


def test_first_model_is_blessed_when_it_reaches_the_threshold() -> None:
    decision = decide(_figures(0.8), None, "nothing blessed", None, "v1.0.0", False, NO_DRIFT, *_config())
    assert decision["status"] == "promoted" and decision["serving_version"] == "v1.0.0"
    assert decision["candidate"]["version"] == "v1.0.0" and decision["reasons"] == []
    low = decide(_figures(0.4), None, "nothing blessed", None, "v1.0.0", False, NO_DRIFT, *_config())
    assert low["status"] == "rejected" and low["serving_version"] is None
    assert "test accuracy 0.4000 (gate.min_accuracy 0.5)" in low["message"]
    assert "nothing is blessed yet" in low["message"]


@pytest.mark.parametrize(("candidate", "promoted"), [(0.781, True), (0.78, True), (0.779, False)])
def test_regression_is_measured_against_the_blessed_model(candidate: float, promoted: bool) -> None:
    decision = decide(_figures(candidate), _figures(0.8, "v3.0.0"), "rescored", "v3.0.0", "v4.0.0", False,
                      NO_DRIFT, *_config())
    assert decision["promoted"] is promoted
    assert decision["serving_version"] == ("v4.0.0" if promoted else "v3.0.0")
    if not promoted:
        assert decision["reasons"] == [("accuracy 0.7790 against the blessed v3.0.0's 0.8000 on this test split: "
                                       "-0.0210 (gate.max_regression 0.02)")]
        assert decision["message"].endswith("the blessed model v3.0.0 stays in place")


def test_class_floor_and_drift_under_fail_block_promotion() -> None:
    weak_class = decide(_figures(0.9, recall=0.2), None, "", None, "v1.0.0", False, NO_DRIFT,
                        *_config(gate__min_class_recall=0.3))
    assert weak_class["status"] == "rejected" and "cat 0.200" in weak_class["reasons"][0]
    drift = {"drifted": True, "findings": ["classes changed: added none, removed ['rings']"]}
    warned = decide(_figures(0.9), None, "", None, "v1.0.0", False, drift, *_config())
    assert warned["promoted"] and warned["drift"]["drifted"]
    failed = decide(_figures(0.9), None, "", None, "v1.0.0", False, drift, *_config(drift__on_drift="fail"))
    assert not failed["promoted"] and failed["reasons"] == ["classes changed: added none, removed ['rings']"]


def test_the_blessed_model_again_is_not_a_new_version() -> None:
    decision = decide(_figures(0.8), _figures(0.8, "v2.0.0"), "", "v2.0.0", "v3.0.0", True, NO_DRIFT, *_config())
    assert decision["status"] == "already blessed" and not decision["promoted"]
    assert decision["serving_version"] == "v2.0.0"
