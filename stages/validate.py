"""validate: build the image manifest of `paths.raw` and check it with great-expectations.

Writes `paths.validation_report` (success, counts, invalid files with reasons, expectation
results) and `paths.validated/manifest.csv`, the list of usable images that preprocess reads.
With `validate.on_invalid: fail` any invalid file stops the run with a readable summary;
with `quarantine` the run goes on without them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alexnet_pipeline import atomic
from alexnet_pipeline.artifacts import MANIFEST_FILE
from alexnet_pipeline.config import Params, ValidateConfig
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.expectations import check_classes, check_files
from alexnet_pipeline.layout import find_images
from alexnet_pipeline.manifest import build_manifest
from alexnet_pipeline.stage_runner import run_stage

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


def _counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Images per split and class: `{split: {class: n}}`."""
    grouped = frame.groupby(["split", "label"]).size()
    counts: dict[str, dict[str, int]] = {}
    for (split, label), n in grouped.items():
        counts.setdefault(str(split), {})[str(label)] = int(n)
    return counts


def validate(manifest: pd.DataFrame, cfg: ValidateConfig) -> ValidationResult:
    """Run the suites over `manifest`; collect every invalid file with all its reasons."""
    file_outcomes = check_files(manifest, cfg)
    reasons: dict[str, list[str]] = {}
    for row in manifest.loc[~manifest["ok"], ["path", "reason"]].itertuples(index=False):
        reasons.setdefault(row.path, []).append(row.reason)
    for outcome in file_outcomes:
        if outcome.column == "ok":  # decode failures already carry their precise reason
            continue
        for path, value in outcome.failing:
            reasons.setdefault(path, []).append(f"{outcome.column} is {value}, expected {outcome.description}")
    usable = manifest[~manifest["path"].isin(reasons)].reset_index(drop=True)
    class_outcomes = check_classes(usable, cfg)
    invalid = [{"path": path, "reason": "; ".join(why)} for path, why in sorted(reasons.items())]
    report = {
        "success": not invalid and all(o.success for o in file_outcomes + class_outcomes),
        "on_invalid": cfg.on_invalid,
        "counts": {"files": len(manifest), "valid": len(usable), "invalid": len(invalid),
                   "by_split": _counts(usable)},
        "invalid": invalid,
        "expectations": [o.as_json() for o in file_outcomes],
        "class_expectations": [
            {**o.as_json(), "failing_classes": {label: int(n) for label, n in o.failing}}
            for o in class_outcomes
        ],
    }
    return ValidationResult(report, usable)


def failure_summary(result: ValidationResult, report_path: str, on_invalid: str) -> str:
    """What went wrong, the first offending files, where the full report is and what to do."""
    counts = result.report["counts"]
    lines = []
    if not result.files_ok and on_invalid == "fail":
        lines.append(f"{counts['invalid']} of {counts['files']} files are invalid:")
        for item in result.report["invalid"][:SHOWN_IN_SUMMARY]:
            lines.append(f"  {item['path']}: {item['reason']}")
        if counts["invalid"] > SHOWN_IN_SUMMARY:
            lines.append(f"  ... and {counts['invalid'] - SHOWN_IN_SUMMARY} more")
        lines.append("Fix or remove them, or set validate.on_invalid: quarantine to go on without them.")
    for outcome in result.report["class_expectations"]:
        if not outcome["success"]:
            found = ", ".join(f"{label} ({n})" for label, n in outcome["failing_classes"].items())
            lines.append(f"classes with too few train images: {found}; expected "
                         f"{outcome['description']}. Add images or lower validate.min_images_per_class.")
    lines.append(f"Full report: {report_path}")
    return "validation failed: " + "\n".join(lines)


def main(params: Params) -> None:
    """Validate paths.raw and write the manifest of usable images."""
    cfg, paths = params.validate, params.paths
    manifest = build_manifest(find_images(paths.raw))
    log.info("manifest: %d files in %s", len(manifest), paths.raw)
    result = validate(manifest, cfg)
    atomic.write_json(paths.validation_report, result.report)
    if not (result.usable["split"] == "train").any():
        raise PipelineError(f"no usable train images remain; see {paths.validation_report}")
    if not result.classes_ok or (not result.files_ok and cfg.on_invalid == "fail"):
        raise PipelineError(failure_summary(result, str(paths.validation_report), cfg.on_invalid))
    for item in result.report["invalid"]:
        log.warning("quarantined %s: %s", item["path"], item["reason"])
    with atomic.atomic_path(paths.validated) as tmp:
        tmp.mkdir()
        result.usable.to_csv(tmp / MANIFEST_FILE, index=False)
    log.info("%d usable images; report in %s", len(result.usable), paths.validation_report)


if __name__ == "__main__":
    run_stage("validate", main)
