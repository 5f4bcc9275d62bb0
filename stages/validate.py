"""validate: build the image manifest of `paths.raw` and check it with great-expectations.

Writes `paths.validation_report` (success, counts, invalid files with reasons, duplicates,
leakage, expectation results), GX Data Docs in `paths.data_docs`, and
`paths.validated/manifest.csv`, the list of usable images that preprocess reads. Policies:
`validate.on_invalid` (fail | quarantine), `on_duplicate` (drop | keep | fail, for identical files
in one split) and `on_leakage` (fail | drop the val/test copy, for identical files across splits).
"""

from __future__ import annotations

import logging

import pandas as pd

from alexnet_pipeline.config import Params, ValidateConfig
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import LAYOUT_FILE, MANIFEST_FILE
from alexnet_pipeline.core.contracts import (
    DatasetLayout,
    ValidationReport,
    read_contract,
    write_contract,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.core.workers import worker_count
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.layout import SPLITS, find_images
from alexnet_pipeline.validation.expectations import (
    Suites,
    check_classes,
    check_content,
    check_files,
)
from alexnet_pipeline.validation.findings import (
    ValidationResult,
    failure_summary,
    first_copies,
    invalid_reasons,
    json_number,
    split_class_counts,
)
from alexnet_pipeline.validation.manifest import build_manifest, rejected_row

log = logging.getLogger(__name__)


def validate(manifest: pd.DataFrame, cfg: ValidateConfig, suites: Suites | None = None) -> ValidationResult:
    """Run the suites over `manifest`, apply the policies, and report every finding."""
    suites = suites or Suites()
    file_outcomes = check_files(manifest, cfg, suites)
    reasons = invalid_reasons(manifest, file_outcomes)
    valid = manifest[~manifest["path"].isin(reasons)].reset_index(drop=True)
    content_outcomes = check_content(valid, suites)
    # the first copy of a content in a split stays; the others are duplicates
    in_split = valid.duplicated(["split", "sha256"], keep=False)
    duplicates = first_copies(valid, set(valid.loc[in_split, "path"]), ["split", "sha256"])
    duplicates = [d for d in duplicates if d["path"] != d["same_as"]]
    # content first seen in an earlier split (train, val, test order) leaks into the later ones
    first_split = valid.assign(order=valid["split"].map(SPLITS.index)).groupby("sha256")["order"].transform("min")
    leaked = set(valid.loc[valid["split"].map(SPLITS.index) > first_split, "path"])
    leakage = first_copies(valid, leaked, ["sha256"])
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
                   "by_split": split_class_counts(usable)},
        "invalid": invalid,
        "duplicates": duplicates,
        "leakage": leakage,
        "expectations": [o.as_json() for o in file_outcomes + content_outcomes],
        "class_expectations": [
            {**o.as_json(), "failing_classes": {label: json_number(n) for label, n in o.failing}}
            for o in class_outcomes
        ],
    }
    return ValidationResult(report, usable)


def main(params: Params) -> None:
    """Validate paths.raw and write the manifest of usable images."""
    cfg, paths = params.validate, params.paths
    layout_file = paths.raw / LAYOUT_FILE
    refused = read_contract(DatasetLayout, layout_file).rejected if layout_file.is_file() else []
    rejected = [rejected_row(**item) for item in refused]  # files download refused to read
    workers = worker_count(cfg.workers)
    manifest = build_manifest(find_images(paths.raw), paths.raw, workers, rejected)
    log.info("manifest: %d files in %s (%d workers)", len(manifest), paths.raw, workers)
    with atomic.atomic_path(paths.data_docs) as docs:
        docs.mkdir()
        result = validate(manifest, cfg, Suites(docs))
    result.report["data_docs"] = str(paths.data_docs / "index.html")
    write_contract(paths.validation_report, ValidationReport, result.report)
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
