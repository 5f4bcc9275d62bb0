"""The gate's decision (TFX's "blessing"): a candidate replaces the blessed model only if it
reaches the thresholds, does not regress against the blessed model on the same test split and,
with `drift.on_drift: fail`, comes from data that did not drift."""

from __future__ import annotations

from typing import Any

from alexnet_pipeline.config import DriftConfig, GateConfig


def figures(metrics: dict[str, Any], version: str | None) -> dict[str, Any]:
    """A model's figures for the gate from its metrics (`classification_metrics`' output)."""
    return {"version": version, "accuracy": round(float(metrics["accuracy"]), 6),
            "loss": round(float(metrics["loss"]), 6),
            "per_class_recall": {name: float(row["recall"]) for name, row in metrics["per_class"].items()}}


def _checks(candidate: dict[str, Any], blessed: dict[str, Any] | None, drift: dict[str, Any],
            gate: GateConfig, on_drift: str) -> list[dict[str, Any]]:
    checks = [{"name": "min_accuracy", "passed": candidate["accuracy"] >= gate.min_accuracy,
               "detail": f"test accuracy {candidate['accuracy']:.4f} (gate.min_accuracy {gate.min_accuracy})"}]
    if gate.min_class_recall is not None:
        low = {name: recall for name, recall in candidate["per_class_recall"].items() if recall < gate.min_class_recall}
        checks.append({"name": "min_class_recall", "passed": not low,
                       "detail": (f"recall below {gate.min_class_recall} (gate.min_class_recall): "
                                  + ", ".join(f"{name} {recall:.3f}" for name, recall in sorted(low.items()))
                                  if low else f"every class's recall >= {gate.min_class_recall}")})
    if blessed is not None:
        drop = blessed["accuracy"] - candidate["accuracy"]
        checks.append({"name": "max_regression", "passed": drop <= gate.max_regression + 1e-9,
                       "detail": f"accuracy {candidate['accuracy']:.4f} against the blessed {blessed['version']}'s "
                                 f"{blessed['accuracy']:.4f} on this test split: {-drop:+.4f} "
                                 f"(gate.max_regression {gate.max_regression})"})
    if on_drift == "fail":
        checks.append({"name": "no_drift", "passed": not drift["drifted"],
                       "detail": "; ".join(drift["findings"]) if drift["drifted"] else "no drift"})
    return checks


def decide(candidate: dict[str, Any], blessed: dict[str, Any] | None, blessed_note: str,
           blessed_version: str | None, next_version: str, same_model: bool, drift: dict[str, Any],
           gate: GateConfig, drift_cfg: DriftConfig) -> dict[str, Any]:
    """The content of `paths.gate`: the decision, every check, both models' figures and which
    version serves afterwards. `same_model`: the candidate's weights are the blessed model's."""
    checks = _checks(candidate, blessed, drift, gate, drift_cfg.on_drift)
    reasons = [check["detail"] for check in checks if not check["passed"]]
    if same_model:
        status, promoted, serving = "already blessed", False, blessed_version
        message = f"the candidate is the blessed model {blessed_version} (same weights): nothing to promote"
    elif not reasons:
        status, promoted, serving = "promoted", True, next_version
        message = f"promoted as {next_version}" + (f", replacing {blessed_version}" if blessed_version else "")
    else:
        status, promoted, serving = "rejected", False, blessed_version
        kept = (f"the blessed model {blessed_version} stays in place" if blessed_version
                else "nothing is blessed yet, so there is no serving model")
        message = f"not promoted: {'; '.join(reasons)}; {kept}"
    return {"status": status, "promoted": promoted, "message": message, "reasons": reasons, "checks": checks,
            "candidate": {**candidate, "version": next_version if promoted else None},
            "blessed": blessed, "blessed_note": blessed_note, "serving_version": serving,
            "thresholds": {"min_accuracy": gate.min_accuracy, "min_class_recall": gate.min_class_recall,
                           "max_regression": gate.max_regression},
            "on_reject": gate.on_reject,
            "drift": {"drifted": drift["drifted"], "findings": drift["findings"], "on_drift": drift_cfg.on_drift}}
