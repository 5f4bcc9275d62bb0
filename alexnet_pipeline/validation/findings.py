"""What validation found, as `reports/validation.json` records it: invalid files and their
reasons, duplicates, cross-split leakage, counts; and the summary a failed run stops with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from alexnet_pipeline.config import ValidateConfig
from alexnet_pipeline.sources.layout import SPLITS
from alexnet_pipeline.validation.expectations import ExpectationOutcome

SHOWN_IN_SUMMARY = 10


SHOWN_IN_SUMMARY = 10


@dataclass
class ValidationResult:
    report: dict[str, Any]
    usable: pd.DataFrame

    @property
    def files_ok(self) -> bool:
        return not self.report["invalid"]

    @property
    def classes_ok(self) -> bool:
        return all(e["success"] for e in self.report["class_expectations"])

    def must_stop(self, cfg: ValidateConfig) -> bool:
        """Whether the findings, under the configured policies, stop the run."""
        return (not self.classes_ok or (not self.files_ok and cfg.on_invalid == "fail")
                or (bool(self.report["duplicates"]) and cfg.on_duplicate == "fail")
                or (bool(self.report["leakage"]) and cfg.on_leakage == "fail"))


def split_class_counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Images per split and class: `{split: {class: n}}`."""
    grouped = frame.groupby(["split", "label"]).size()
    counts: dict[str, dict[str, int]] = {}
    for (split, label), n in grouped.items():
        counts.setdefault(str(split), {})[str(label)] = int(n)
    return counts


def invalid_reasons(manifest: pd.DataFrame, outcomes: list[ExpectationOutcome]) -> dict[str, list[str]]:
    """Every file that broke a per-file rule, with all its reasons."""
    reasons: dict[str, list[str]] = {}
    for row in manifest.loc[~manifest["ok"], ["path", "reason"]].itertuples(index=False):
        reasons.setdefault(row.path, []).append(row.reason)
    unreadable = set(reasons)  # their decode failure is the precise reason; other rules add noise
    for outcome in outcomes:
        for path, value in outcome.failing:
            if path not in unreadable:
                reasons.setdefault(path, []).append(f"{outcome.column} is {value}, expected {outcome.description}")
    return reasons


def first_copies(valid: pd.DataFrame, flagged: set[str], key: list[str]) -> list[dict[str, str]]:
    """For each flagged path, the first file (in split, then path order) with the same `key`."""
    ordered = valid.assign(split_order=valid["split"].map(SPLITS.index)).sort_values(["split_order", "path"])
    first = ordered.drop_duplicates(key).set_index(key)["path"]
    rows = ordered[ordered["path"].isin(flagged)]
    return [{"path": row.path, "split": row.split,
             "same_as": first[tuple(getattr(row, k) for k in key) if len(key) > 1 else getattr(row, key[0])]}
            for row in rows.itertuples(index=False)]


def json_number(value: Any) -> Any:
    return round(float(value), 3) if isinstance(value, float) else int(value) if value is not None else None


def _listed(lines: list[str], items: list[dict[str, Any]], describe: Any) -> None:
    for item in items[:SHOWN_IN_SUMMARY]:
        lines.append(f"  {describe(item)}")
    if len(items) > SHOWN_IN_SUMMARY:
        lines.append(f"  ... and {len(items) - SHOWN_IN_SUMMARY} more")


def failure_summary(result: ValidationResult, report_path: str, cfg: ValidateConfig) -> str:
    """What went wrong, the first offending files, where the full report is and what to do."""
    report, counts = result.report, result.report["counts"]
    lines = []
    if not result.files_ok and cfg.on_invalid == "fail":
        lines.append(f"{counts['invalid']} of {counts['files']} files are invalid:")
        _listed(lines, report["invalid"], lambda item: f"{item['path']}: {item['reason']}")
        lines.append("Fix or remove them, or set validate.on_invalid: quarantine to go on without them.")
    if report["duplicates"] and cfg.on_duplicate == "fail":
        lines.append(f"{counts['duplicates']} files repeat another file of their split:")
        _listed(lines, report["duplicates"], lambda item: f"{item['path']}: same as {item['same_as']}")
        lines.append("Remove them, or set validate.on_duplicate: drop (or keep).")
    if report["leakage"] and cfg.on_leakage == "fail":
        lines.append(f"{counts['leaked']} files of a later split repeat an earlier split's file (leakage):")
        _listed(lines, report["leakage"], lambda item: f"{item['path']}: same as {item['same_as']}")
        lines.append("Remove them, or set validate.on_leakage: drop to leave them out of val/test.")
    for outcome in report["class_expectations"]:
        if outcome["success"]:
            continue
        if outcome["column"] == "images":
            missing = ", ".join(outcome["failing_classes"])
            lines.append(f"expected {outcome['description']}; none in: {missing}. Add images of those "
                         "classes to those splits, or remove the split folder to have it carved from train.")
            continue
        found = ", ".join(f"{label} ({n})" for label, n in outcome["failing_classes"].items())
        if outcome["column"] == "count":
            lines.append(f"classes with too few train images: {found}; expected {outcome['description']}. "
                         "Add images or lower validate.min_images_per_class.")
        else:
            lines.append(f"classes much smaller than the largest (ratio in brackets): {found}; expected "
                         f"{outcome['description']}. Add images or raise validate.max_class_imbalance.")
    lines.append(f"Full report: {report_path}")
    return "validation failed: " + "\n".join(lines)
