"""The gate's decision: thresholds (each at its exact boundary), regression against the blessed
model (beyond noise and beyond max_regression, each at its boundary), a rolled-back model, drift,
same model; every check's name and detail, and the figures the report reads."""

from __future__ import annotations

import math
from typing import Any

import pytest

from alexnet_pipeline.config import params_from_dict
from alexnet_pipeline.registry.gate import decide, figures
from tests.helpers import set_key, shipped_params_dict

NO_DRIFT = {"drifted": False, "findings": []}
FINDINGS = ["classes changed: added none, removed ['rings']", "brightness shifted"]
DRIFT = {"drifted": True, "findings": FINDINGS}
KEPT_NONE = "nothing is blessed yet, so there is no serving model"


def _config(**changes: Any):
    data = shipped_params_dict()
    for key, value in changes.items():
        set_key(data, key.replace("__", "."), value)
    params = params_from_dict(data)
    return params.gate, params.drift


def _figures(accuracy: float, version: str | None = None, recall: float = 0.9) -> dict:
    return {"version": version, "accuracy": accuracy, "loss": 1 - accuracy,
            "per_class_recall": {"cat": recall, "dog": 0.95}}


def _comparison(p_value: float = 0.001, images: int = 400) -> dict:
    """A paired comparison as compare_paired writes it; only its p-value decides."""
    return {"images": images, "difference": -0.05, "interval": [-0.0725, -0.0275], "confidence": 0.95,
            "resamples": 10000, "candidate_only": 4, "blessed_only": 24, "test": "McNemar exact",
            "p_value": p_value}


def _decide(candidate: dict, blessed: dict | None = None, note: str = "", same: bool = False,
            drift: dict = NO_DRIFT, comparison: dict | None = None, rolled_back: str | None = None,
            **config: Any) -> dict:
    """decide() for a candidate and the blessed model's figures (its version, vN, from them):
    the candidate would become vN+1. With a blessed model the comparison is significant unless
    given."""
    version = blessed["version"] if blessed else None
    number = int(version[1:].split(".")[0]) + 1 if version else 1
    if blessed is not None and comparison is None:
        comparison = _comparison()
    return decide(candidate, blessed, note, version, f"v{number}.0.0", same, drift,
                  *_config(**config), comparison, rolled_back)


def _paired_detail(candidate: float, blessed: float, version: str, verdict: str) -> str:
    return (f"accuracy {candidate:.4f} against the blessed {version}'s {blessed:.4f} on the same 400 test images: "
            f"{candidate - blessed:+.4f} (95% interval -0.0725 to -0.0275; 4 images only the candidate gets right, "
            f"24 only the blessed; McNemar p = 0.001): {verdict}")


BEYOND = "worse beyond noise (p < gate.alpha 0.05) and by more than gate.max_regression 0.02"


def _below(value: float) -> float:
    """The largest float below `value`: one step under a threshold."""
    return math.nextafter(value, -math.inf)


def _above(value: float) -> float:
    return math.nextafter(value, math.inf)


def test_first_model_is_blessed_when_it_reaches_the_threshold() -> None:
    decision = _decide(_figures(0.8), note="nothing blessed")
    assert decision == {
        "status": "promoted", "promoted": True, "message": "promoted as v1.0.0", "reasons": [],
        "checks": [{"name": "min_accuracy", "passed": True,
                    "detail": "test accuracy 0.8000 (gate.min_accuracy 0.5)"}],
        "candidate": {**_figures(0.8), "version": "v1.0.0"}, "blessed": None,
        "blessed_note": "nothing blessed", "comparison": None, "serving_version": "v1.0.0",
        "thresholds": {"min_accuracy": 0.5, "min_class_recall": None, "max_regression": 0.02, "alpha": 0.05},
        "on_reject": "warn", "drift": {"drifted": False, "findings": [], "on_drift": "warn"}}
    low = _decide(_figures(0.4), note="nothing blessed")
    assert low["status"] == "rejected" and low["promoted"] is False
    assert low["serving_version"] is None and low["candidate"]["version"] is None
    assert low["reasons"] == ["test accuracy 0.4000 (gate.min_accuracy 0.5)"]
    assert low["message"] == ("not promoted: test accuracy 0.4000 (gate.min_accuracy 0.5); "
                              f"{KEPT_NONE}")


@pytest.mark.parametrize(("accuracy", "passed"),
                         [(0.5, True), (_below(0.5), False), (_above(0.5), True)])
def test_min_accuracy_is_reached_at_exactly_the_threshold(accuracy: float, passed: bool) -> None:
    decision = _decide(_figures(accuracy))
    assert decision["checks"] == [{"name": "min_accuracy", "passed": passed,
                                   "detail": "test accuracy 0.5000 (gate.min_accuracy 0.5)"}]
    assert decision["promoted"] is passed


@pytest.mark.parametrize(("recall", "passed"),
                         [(0.3, True), (_below(0.3), False), (_above(0.3), True)])
def test_min_class_recall_is_reached_at_exactly_the_threshold(recall: float, passed: bool) -> None:
    decision = _decide(_figures(0.9, recall=recall), gate__min_class_recall=0.3)
    detail = ("every class's recall >= 0.3" if passed
              else "recall below 0.3 (gate.min_class_recall): cat 0.300")
    assert decision["checks"][1] == {"name": "min_class_recall", "passed": passed, "detail": detail}
    assert decision["promoted"] is passed
    assert decision["thresholds"]["min_class_recall"] == 0.3


def test_every_class_under_the_floor_is_named_in_name_order() -> None:
    candidate = {"version": None, "accuracy": 0.9, "loss": 0.1,
                 "per_class_recall": {"zebra": 0.1234, "ant": 0.05, "cat": 0.6}}
    decision = _decide(candidate, gate__min_class_recall=0.5)
    reason = "recall below 0.5 (gate.min_class_recall): ant 0.050, zebra 0.123"
    assert decision["reasons"] == [reason]
    assert decision["message"] == f"not promoted: {reason}; {KEPT_NONE}"


@pytest.mark.parametrize(("candidate", "promoted"), [(0.781, True), (0.78, True), (0.779, False)])
def test_regression_is_measured_against_the_blessed_model(candidate: float, promoted: bool) -> None:
    decision = _decide(_figures(candidate), _figures(0.8, "v3.0.0"), "rescored")
    assert decision["promoted"] is promoted
    assert decision["serving_version"] == ("v4.0.0" if promoted else "v3.0.0")
    assert decision["comparison"] == _comparison()
    if promoted:
        assert decision["message"] == "promoted as v4.0.0, replacing v3.0.0"
        assert decision["checks"][1]["detail"].endswith(": within gate.max_regression 0.02")
    else:
        assert decision["reasons"] == [_paired_detail(0.779, 0.8, "v3.0.0", BEYOND)]
        assert decision["message"].endswith("the blessed model v3.0.0 stays in place")


@pytest.mark.parametrize(("p_value", "passed"), [(0.05, True), (_below(0.05), False), (_above(0.05), True)])
def test_a_drop_blocks_only_when_the_paired_test_is_significant_at_alpha(p_value: float, passed: bool) -> None:
    """p exactly at gate.alpha is not significant; one float below is."""
    decision = _decide(_figures(0.5), _figures(0.9, "v1.0.0"), comparison=_comparison(p_value))
    check = decision["checks"][1]
    assert check["name"] == "max_regression" and check["passed"] is passed and decision["promoted"] is passed
    verdict = "a drop within noise (p >= gate.alpha 0.05): not a regression" if passed else BEYOND
    assert check["detail"].endswith(f"McNemar p = {p_value:.3g}): {verdict}")
    assert decision["thresholds"]["alpha"] == 0.05


def test_alpha_comes_from_params() -> None:
    decision = _decide(_figures(0.5), _figures(0.9, "v1.0.0"), comparison=_comparison(0.009), gate__alpha=0.01)
    assert not decision["promoted"] and decision["thresholds"]["alpha"] == 0.01
    assert decision["reasons"][0].endswith("(p < gate.alpha 0.01) and by more than gate.max_regression 0.02")
    assert _decide(_figures(0.5), _figures(0.9, "v1.0.0"), comparison=_comparison(0.01), gate__alpha=0.01)["promoted"]


@pytest.mark.parametrize(("drop", "passed"),
                         [(0.25, True), (0.25 + 2e-9, False), (0.25 - 2e-9, True)])
def test_max_regression_is_allowed_at_exactly_the_threshold(drop: float, passed: bool) -> None:
    """0.75 against 0.5 loses exactly 0.25 (both exact in binary): allowed, as is anything within
    1e-9 of it (rounding); 2e-9 more is not, when the drop is significant."""
    decision = _decide(_figures(0.5), _figures(0.5 + drop, "v1.0.0"), gate__min_accuracy=0.0,
                       gate__max_regression=0.25)
    verdict = "within gate.max_regression 0.25" if passed else BEYOND.replace("0.02", "0.25")
    assert decision["checks"][1] == {"name": "max_regression", "passed": passed,
                                     "detail": _paired_detail(0.5, 0.75, "v1.0.0", verdict)}
    assert decision["promoted"] is passed


def test_the_rounding_allowance_includes_its_own_end() -> None:
    """A loss of exactly max_regression + 1e-9 (0 against 0.25 + 1e-9) still passes."""
    decision = _decide(_figures(0.0), _figures(0.25 + 1e-9, "v1.0.0"), gate__min_accuracy=0.0,
                       gate__max_regression=0.25)
    assert decision["checks"][1]["passed"] is True and decision["promoted"] is True


def test_a_rolled_back_model_is_never_promoted_again() -> None:
    why = "the candidate has the weights of v2.0.0, rolled back to v1.0.0 at T (label error)"
    decision = _decide(_figures(0.99), _figures(0.8, "v1.0.0"), rolled_back=why)
    assert decision["checks"][-1] == {"name": "not_rolled_back", "passed": False, "detail": why}
    assert not decision["promoted"] and decision["reasons"] == [why]
    assert decision["serving_version"] == "v1.0.0"


def test_every_check_is_named_and_detailed_in_order() -> None:
    decision = _decide(_figures(0.7, recall=0.2), _figures(0.8, "v2.0.0"), "rescored", drift=DRIFT,
                       gate__min_class_recall=0.25, drift__on_drift="fail")
    details = ["test accuracy 0.7000 (gate.min_accuracy 0.5)",
               "recall below 0.25 (gate.min_class_recall): cat 0.200",
               _paired_detail(0.7, 0.8, "v2.0.0", BEYOND),
               "classes changed: added none, removed ['rings']; brightness shifted"]
    assert decision["checks"] == [
        {"name": "min_accuracy", "passed": True, "detail": details[0]},
        {"name": "min_class_recall", "passed": False, "detail": details[1]},
        {"name": "max_regression", "passed": False, "detail": details[2]},
        {"name": "no_drift", "passed": False, "detail": details[3]}]
    assert decision["reasons"] == details[1:]
    assert decision["message"] == (f"not promoted: {'; '.join(details[1:])}; the blessed model "
                                   "v2.0.0 stays in place")
    assert decision["drift"] == {**DRIFT, "on_drift": "fail"}
    assert decision["blessed"] == _figures(0.8, "v2.0.0") and decision["blessed_note"] == "rescored"
    assert decision["thresholds"] == {"min_accuracy": 0.5, "min_class_recall": 0.25,
                                      "max_regression": 0.02, "alpha": 0.05}


def test_drift_blocks_promotion_only_under_fail() -> None:
    warned = _decide(_figures(0.9), drift=DRIFT)
    assert warned["promoted"] and [check["name"] for check in warned["checks"]] == ["min_accuracy"]
    assert warned["drift"] == {**DRIFT, "on_drift": "warn"}
    failed = _decide(_figures(0.9), drift=DRIFT, drift__on_drift="fail")
    assert not failed["promoted"] and failed["status"] == "rejected"
    assert failed["reasons"] == ["; ".join(FINDINGS)]
    clean = _decide(_figures(0.9), drift__on_drift="fail")
    assert clean["promoted"]
    assert clean["checks"][-1] == {"name": "no_drift", "passed": True, "detail": "no drift"}


def test_the_blessed_model_again_is_not_a_new_version() -> None:
    """Same weights: nothing to promote, whatever the checks say (here even a failing one)."""
    for candidate in (0.8, 0.1):
        decision = _decide(_figures(candidate), _figures(0.8, "v2.0.0"), same=True,
                           gate__on_reject="fail")
        assert decision["status"] == "already blessed" and decision["promoted"] is False
        assert decision["serving_version"] == "v2.0.0" and decision["candidate"]["version"] is None
        assert decision["message"] == ("the candidate is the blessed model v2.0.0 (same weights): "
                                       "nothing to promote")
        assert decision["on_reject"] == "fail"


def test_figures_round_accuracy_and_loss_and_keep_each_class_recall() -> None:
    metrics = {"accuracy": 0.12345649, "loss": 2.3456784, "top5_accuracy": 0.9,
               "per_class": {"cat": {"precision": 0.5, "recall": 0.3333333333, "support": 3},
                             "dog": {"precision": 1.0, "recall": 1, "support": 2}}}
    assert figures(metrics, "v7.0.0") == {"version": "v7.0.0", "accuracy": 0.123456,
                                          "loss": 2.345678,
                                          "per_class_recall": {"cat": 0.3333333333, "dog": 1.0}}
    unnamed = figures(metrics, None)
    assert unnamed["version"] is None and isinstance(unnamed["per_class_recall"]["dog"], float)


def test_a_blessed_model_without_its_paired_comparison_is_a_bug() -> None:
    with pytest.raises(ValueError, match="^the regression check needs the paired comparison of the two models$"):
        decide(_figures(0.8), _figures(0.8, "v1.0.0"), "", "v1.0.0", "v2.0.0", False, NO_DRIFT, *_config(), None)
