"""The gate's decision (TFX's "blessing"): a candidate replaces the blessed model only if it
reaches the thresholds, does not regress against the blessed model on the same test split and,
with `drift.on_drift: fail`, comes from data that did not drift."""

from __future__ import annotations

from typing import Any

from alexnet_pipeline.config import DriftConfig, GateConfig
from alexnet_pipeline.core.contracts import GateDecision


def figures(metrics: dict[str, Any], version: str | None) -> dict[str, Any]:
    """A model's figures for the gate from its metrics (`classification_metrics`' output)."""
    return {"version": version, "accuracy": round(float(metrics["accuracy"]), 6),
            "loss": round(float(metrics["loss"]), 6),
            "per_class_recall": {name: float(row["recall"]) for name, row in metrics["per_class"].items()}}


def _regression_check(candidate: dict[str, Any], blessed: dict[str, Any], comparison: dict[str, Any] | None,
                      gate: GateConfig) -> dict[str, Any]:
    """Blocks only a drop that is beyond noise (McNemar p < gate.alpha, candidate worse) and
    larger than gate.max_regression: a small test split's chance differences never block."""
    if comparison is None:
        raise ValueError("the regression check needs the paired comparison of the two models")
    drop = blessed["accuracy"] - candidate["accuracy"]
    significant, large = comparison["p_value"] < gate.alpha, drop > gate.max_regression + 1e-9
    if significant and large:
        verdict = f"worse beyond noise (p < gate.alpha {gate.alpha}) and by more than gate.max_regression {gate.max_regression}"
    elif large:
        verdict = f"a drop within noise (p >= gate.alpha {gate.alpha}): not a regression"
    else:
        verdict = f"within gate.max_regression {gate.max_regression}"
    low, high = comparison["interval"]
    return {"name": "max_regression", "passed": not (significant and large),
            "detail": f"accuracy {candidate['accuracy']:.4f} against the blessed {blessed['version']}'s "
                      f"{blessed['accuracy']:.4f} on the same {comparison['images']} test images: {-drop:+.4f} "
                      f"({comparison['confidence']:.0%} interval {low:+.4f} to {high:+.4f}; {comparison['candidate_only']} "
                      f"images only the candidate gets right, {comparison['blessed_only']} only the blessed; "
                      f"McNemar p = {comparison['p_value']:.3g}): {verdict}"}


def _checks(candidate: dict[str, Any], blessed: dict[str, Any] | None, comparison: dict[str, Any] | None,
            rolled_back: str | None, drift: dict[str, Any], gate: GateConfig, on_drift: str) -> list[dict[str, Any]]:
    checks = [{"name": "min_accuracy", "passed": candidate["accuracy"] >= gate.min_accuracy,
               "detail": f"test accuracy {candidate['accuracy']:.4f} (gate.min_accuracy {gate.min_accuracy})"}]
    if gate.min_class_recall is not None:
        low = {name: recall for name, recall in candidate["per_class_recall"].items() if recall < gate.min_class_recall}
        checks.append({"name": "min_class_recall", "passed": not low,
                       "detail": (f"recall below {gate.min_class_recall} (gate.min_class_recall): "
                                  + ", ".join(f"{name} {recall:.3f}" for name, recall in sorted(low.items()))
                                  if low else f"every class's recall >= {gate.min_class_recall}")})
    if blessed is not None:  # a comparable blessed model comes with its paired comparison
        checks.append(_regression_check(candidate, blessed, comparison, gate))
    if rolled_back is not None:
        checks.append({"name": "not_rolled_back", "passed": False, "detail": rolled_back})
    if on_drift == "fail":
        checks.append({"name": "no_drift", "passed": not drift["drifted"],
                       "detail": "; ".join(drift["findings"]) if drift["drifted"] else "no drift"})
    return checks


def decide(candidate: dict[str, Any], blessed: dict[str, Any] | None, blessed_note: str,
           blessed_version: str | None, next_version: str, same_model: bool, drift: dict[str, Any],
           gate: GateConfig, drift_cfg: DriftConfig, comparison: dict[str, Any] | None,
           rolled_back: str | None = None) -> dict[str, Any]:
    """The content of `paths.gate`: the decision, every check, both models' figures and which
    version serves afterwards. `same_model`: the candidate's weights are the blessed model's;
    `comparison`: the paired comparison on the same test images (with `blessed`); `rolled_back`:
    why the candidate's weights may not come back (a version rolled back out of serving)."""
    checks = _checks(candidate, blessed, comparison, rolled_back, drift, gate, drift_cfg.on_drift)
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
            "blessed": blessed, "blessed_note": blessed_note, "comparison": comparison, "serving_version": serving,
            "thresholds": {"min_accuracy": gate.min_accuracy, "min_class_recall": gate.min_class_recall,
                           "max_regression": gate.max_regression, "alpha": gate.alpha},
            "on_reject": gate.on_reject,
            "drift": {"drifted": drift["drifted"], "findings": drift["findings"], "on_drift": drift_cfg.on_drift}}


def run_failure(decision: GateDecision) -> str | None:
    """Why a run that ended in `decision` fails, or None: drift under `drift.on_drift: fail`, or a
    rejected candidate under `gate.on_reject: fail` (the flow's final state, `alexnet run`'s exit)."""
    if decision.drift.drifted and decision.drift.on_drift == "fail":
        return f"data drifted (drift.on_drift: fail): {'; '.join(decision.drift.findings)}; {decision.message}"
    if decision.status == "rejected" and decision.on_reject == "fail":
        return decision.message
    return None
