"""The gate's decision and the drift summary as Markdown: the top of `paths.report_markdown` and
the Prefect run's gate artifact."""

from __future__ import annotations

from typing import Any

from alexnet_pipeline.reporting.report_parts import drift_tests

HEADLINE = {"promoted": "Promoted", "rejected": "Not promoted", "already blessed": "Already blessed"}


def _figure(model: dict[str, Any] | None, key: str) -> str:
    return f"{model[key]:.4f}" if model else "–"


def gate_markdown(decision: dict[str, Any], drift: dict[str, Any]) -> list[str]:
    """Decision, both models' figures, the checks, and the drift findings with the tests' figures."""
    candidate, blessed = decision["candidate"], decision["blessed"]
    lines = [f"## Model gate: {HEADLINE[decision['status']]}", "", decision["message"] + ".", "",
             f"Serving (blessed) version after this run: **{decision['serving_version'] or 'none'}**", "",
             "| | candidate | blessed |", "|---|---|---|",
             f"| version | {candidate['version'] or 'not promoted'} | {blessed['version'] if blessed else 'none'} |",
             f"| test accuracy | {_figure(candidate, 'accuracy')} | {_figure(blessed, 'accuracy')} |",
             f"| test loss | {_figure(candidate, 'loss')} | {_figure(blessed, 'loss')} |", "",
             f"Compared: {decision['blessed_note']}.", ""]
    comparison = decision.get("comparison")
    if comparison:
        low, high = comparison["interval"]
        lines += [(f"Paired on the same {comparison['images']} test images: difference **{comparison['difference']:+.4f}** "
                  f"({comparison['confidence']:.0%} interval {low:+.4f} to {high:+.4f}), McNemar p = "
                  f"**{comparison['p_value']:.3g}** (gate.alpha {decision['thresholds']['alpha']}); "
                  f"{comparison['candidate_only']} images only the candidate gets right, "
                  f"{comparison['blessed_only']} only the blessed."), ""]
    lines += [f"- {'pass' if check['passed'] else 'FAIL'} `{check['name']}`: {check['detail']}" for check in decision["checks"]]
    lines += ["", "## Data drift", ""]
    if drift["reference"] is None:
        return [*lines, "No blessed model yet: nothing to compare this data with.", ""]
    lines.append(f"Against the data of {drift['reference']['version']} ({drift['reference']['images']} images; "
                 f"now {drift['current']['images']}); drift.on_drift: {drift['on_drift']}.")
    lines += [""] + ([f"- **{finding}**" for finding in drift["findings"]] or ["No drift found."]) + [""]
    lines += ["| check | statistic | p-value | effect | drift |", "|---|---|---|---|---|"]
    lines += [f"| {name} ({result['test']}) | {result['statistic']:.4g} | {result['p_value']:.3g} | "
              f"{result['effect']:.3f} | {'yes' if result['drifted'] else 'no'} |" for name, result in drift_tests(drift)]
    predictions = drift.get("predictions")
    if predictions:
        reference, current = predictions["sample_sizes"]
        lines += ["", (f"Without labels: the blessed model's predicted classes and confidence on {current} sampled "
                       f"images of this data against {reference} of its own data (the last two rows); the HTML "
                       f"report shows the {len(drift.get('gallery') or [])} most atypical new images.")]
    files, leakage = drift["files"], drift["leakage"]
    lines += ["", (f"Files: {files['added']} added, {files['removed']} removed, {files['changed']} changed, "
              f"{files['unchanged']} unchanged. Leakage across versions: {leakage['count']} new train images "
              "identical to the blessed data's test images."), ""]
    return lines
