"""validate: build the image manifest of `paths.raw` and check it with great-expectations.

Writes `paths.validation_report` (success, counts, invalid files with reasons, duplicates,
leakage, expectation results), GX Data Docs in `paths.data_docs`, and
`paths.validated/manifest.csv`, the list of usable images that preprocess reads. Policies:
`validate.on_invalid` (fail | quarantine), `on_duplicate` (drop | keep | fail, for identical files
in one split) and `on_leakage` (fail | drop the val/test copy, for identical files across splits).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alexnet_pipeline.config import Params, ValidateConfig
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import LAYOUT_FILE, MANIFEST_FILE
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.core.workers import worker_count
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.layout import SPLITS, find_images
from alexnet_pipeline.validation.expectations import (
    ExpectationOutcome,
    Suites,
    check_classes,
    check_content,
    check_files,
)
from alexnet_pipeline.validation.manifest import build_manifest, rejected_row

log = logging.getLogger(__name__)
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


def _counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Images per split and class: `{split: {class: n}}`."""
    grouped = frame.groupby(["split", "label"]).size()
    counts: dict[str, dict[str, int]] = {}
    for (split, label), n in grouped.items():
        counts.setdefault(str(split), {})[str(label)] = int(n)
    return counts


def _invalid_reasons(manifest: pd.DataFrame, outcomes: list[ExpectationOutcome]) -> dict[str, list[str]]:
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


def _copies(valid: pd.DataFrame, flagged: set[str], key: list[str]) -> list[dict[str, str]]:
    """For each flagged path, the first file (in split, then path order) with the same `key`."""
    ordered = valid.assign(split_order=valid["split"].map(SPLITS.index)).sort_values(["split_order", "path"])
    first = ordered.drop_duplicates(key).set_index(key)["path"]
    rows = ordered[ordered["path"].isin(flagged)]
    return [{"path": row.path, "split": row.split,
             "same_as": first[tuple(getattr(row, k) for k in key) if len(key) > 1 else getattr(row, key[0])]}
            for row in rows.itertuples(index=False)]


def validate(manifest: pd.DataFrame, cfg: ValidateConfig, suites: Suites | None = None) -> ValidationResult:
    """Run the suites over `manifest`, apply the policies, and report every finding."""
    suites = suites or Suites()
    file_outcomes = check_files(manifest, cfg, suites)
    reasons = _invalid_reasons(manifest, file_outcomes)
    valid = manifest[~manifest["path"].isin(reasons)].reset_index(drop=True)
    content_outcomes = check_content(valid, suites)
    # the first copy of a content in a split stays; the others are duplicates
    in_split = valid.duplicated(["split", "sha256"], keep=False)
    duplicates = _copies(valid, set(valid.loc[in_split, "path"]), ["split", "sha256"])
    duplicates = [d for d in duplicates if d["path"] != d["same_as"]]
    # content first seen in an earlier split (train, val, test order) leaks into the later ones
    first_split = valid.assign(order=valid["split"].map(SPLITS.index)).groupby("sha256")["order"].transform("min")
    leaked = set(valid.loc[valid["split"].map(SPLITS.index) > first_split, "path"])
    leakage = _copies(valid, leaked, ["sha256"])
    dropped = set()
    if cfg.on_duplicate == "drop":
        dropped |= {d["path"] for d in duplicates}
    if cfg.on_leakage == "drop":
        dropped |= leaked
    for item in duplicates + leakage:
        item["dropped"] = item["path"] in dropped
    usable = valid[~valid["path"].isin(dropped)].reset_index(drop=True)
    class_outcomes = check_classes(usable, cfg, suites)
    invalid = [{"path": path, "reason": "; ".join(why)} for path, why in sorted(reasons.items())]
    report = {
        "success": not invalid and all(o.success for o in file_outcomes + content_outcomes + class_outcomes),
        "policies": {"on_invalid": cfg.on_invalid, "on_duplicate": cfg.on_duplicate,
                     "on_leakage": cfg.on_leakage},
        "counts": {"files": len(manifest), "invalid": len(invalid), "duplicates": len(duplicates),
                   "leaked": len(leakage), "dropped": len(dropped), "usable": len(usable),
                   "by_split": _counts(usable)},
        "invalid": invalid,
        "duplicates": duplicates,
        "leakage": leakage,
        "expectations": [o.as_json() for o in file_outcomes + content_outcomes],
        "class_expectations": [
            {**o.as_json(), "failing_classes": {label: _number(n) for label, n in o.failing}}
            for o in class_outcomes
        ],
    }
    return ValidationResult(report, usable)


def _number(value: Any) -> Any:
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


def main(params: Params) -> None:
    """Validate paths.raw and write the manifest of usable images."""
    cfg, paths = params.validate, params.paths
    layout_file = paths.raw / LAYOUT_FILE
    layout = json.loads(layout_file.read_text(encoding="utf-8")) if layout_file.is_file() else {}
    rejected = [rejected_row(**item) for item in layout.get("rejected", [])]  # files download refused
    workers = worker_count(cfg.workers)
    manifest = build_manifest(find_images(paths.raw), paths.raw, workers, rejected)
    log.info("manifest: %d files in %s (%d workers)", len(manifest), paths.raw, workers)
    with atomic.atomic_path(paths.data_docs) as docs:
        docs.mkdir()
        result = validate(manifest, cfg, Suites(docs))
    result.report["data_docs"] = str(paths.data_docs / "index.html")
    atomic.write_json(paths.validation_report, result.report)
    if not (result.usable["split"] == "train").any():
        raise PipelineError(f"no usable train images remain; see {paths.validation_report}")
    if result.must_stop(cfg):
        raise PipelineError(failure_summary(result, str(paths.validation_report), cfg))
    for item in result.report["invalid"]:
        log.warning("quarantined %s: %s", item["path"], item["reason"])
    for kind in ("duplicates", "leakage"):
        for item in result.report[kind]:
            log.warning("%s %s: same content as %s", "dropped" if item["dropped"] else "kept",
                        item["path"], item["same_as"])
    with atomic.atomic_path(paths.validated) as tmp:
        tmp.mkdir()
        result.usable.to_csv(tmp / MANIFEST_FILE, index=False)
    log.info("%d usable images; report in %s, Data Docs in %s", len(result.usable),
             paths.validation_report, paths.data_docs)


if __name__ == "__main__":
    run_stage("validate", main)
