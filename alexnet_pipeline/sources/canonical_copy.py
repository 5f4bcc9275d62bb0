"""Bringing a dataset into `paths.raw`'s canonical `<split>/<class>/<file>` layout: copying a
folder, safely unpacking an archive, or unpacking the Kaggle archive the source stage resolved."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from alexnet_pipeline.config import DataConfig
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.archives import ExtractionLimits, expand_inner_archives, safe_extract
from alexnet_pipeline.sources.layout import detect_layout, escaping_link, find_images

log = logging.getLogger(__name__)


def copy_dataset(source: Path, out_dir: Path, move: bool) -> dict[str, Any]:
    """Copy (or move, for a scratch extraction) the dataset at `source` into the canonical
    `<split>/<class>/<file>` layout under `out_dir`; return what layout detection found.

    A file that is a symbolic link leading outside `source` (directly or through a linked
    folder) is not read: it is listed under `rejected` for validate to report."""
    layout = detect_layout(source)
    for note in layout.notes:
        log.info("layout: %s", note)
    root = source.resolve()
    rejected = []
    for entry in find_images(source, layout):
        if (escape := escaping_link(entry.source, root)) is not None:
            rejected.append({"path": entry.relpath, "split": entry.split, "label": entry.label,
                             "reason": escape})
            continue
        target = out_dir / entry.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if move:
                shutil.move(entry.source, target)
            else:
                shutil.copy2(entry.source, target)
        except OSError as exc:
            raise PipelineError(f"{entry.source}: cannot copy ({exc.strerror or exc}); "
                                "check its permissions or remove it") from None
    return {**layout.as_json(source), "rejected": rejected}


def unpack(archive: Path, out_dir: Path, limits: ExtractionLimits) -> dict[str, Any]:
    """Safely extract `archive` into scratch space beside `out_dir`, then move its images in."""
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".extract-") as scratch:
        extracted = Path(scratch) / "dataset"
        count = safe_extract(archive, extracted, limits)
        log.info("extracted %d members of %s", count, archive)
        inner = expand_inner_archives(extracted, limits)
        if inner:
            log.info("unpacked the archives inside it: %s", ", ".join(inner))
        return copy_dataset(extracted, out_dir, move=True)


def download_kaggle(data: DataConfig, record: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Unpack the Kaggle archive that the `source` stage resolved; a cached archive that proves
    unusable is deleted, so that a rerun fetches it again rather than failing the same way."""
    from alexnet_pipeline.sources.kaggle_source import (
        fetch_archive,  # the Kaggle client loads only when used
    )

    if record.get("source") != "kaggle":
        raise PipelineError(f"the recorded data source is {record.get('source')!r}, not kaggle; "
                            "run `dvc repro` so that the source stage runs first")
    archive = fetch_archive(data.kaggle, record)
    try:
        layout = unpack(archive, out_dir, extraction_limits(data))
    except PipelineError:
        archive.unlink(missing_ok=True)
        log.error("removed the unusable cached archive %s", archive)
        raise
    return {**record, "layout": layout}


def extraction_limits(data: DataConfig) -> ExtractionLimits:
    return ExtractionLimits(int(data.extract.max_total_gb * 1e9), data.extract.max_ratio)
