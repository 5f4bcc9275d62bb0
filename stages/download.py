"""download: put the dataset in `paths.raw` as `<split>/<class>/<file>`, plus `layout.json`.

Sources: `sample` (the built-in synthetic generator), `local` (a copy of a dataset folder, or
the safely extracted contents of a zip/tar of one; the source is never modified) and `kaggle`
(the archive the `source` stage resolved, from the download cache, safely extracted). Layout detection maps any supported shape to canonical split and class names.
The folder is written whole or not at all.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from alexnet_pipeline.config import DataConfig, Params
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import LAYOUT_FILE
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.archives import (
    ExtractionLimits,
    expand_inner_archives,
    is_archive,
    safe_extract,
)
from alexnet_pipeline.sources.layout import detect_layout, escaping_link, find_images, summarize
from alexnet_pipeline.sources.local_source import local_source_path
from alexnet_pipeline.sources.sample_data import SampleSpec, write_sample

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
        layout = unpack(archive, out_dir, _limits(data))
    except PipelineError:
        archive.unlink(missing_ok=True)
        log.error("removed the unusable cached archive %s", archive)
        raise
    return {**record, "layout": layout}


def _limits(data: DataConfig) -> ExtractionLimits:
    return ExtractionLimits(int(data.extract.max_total_gb * 1e9), data.extract.max_ratio)


def download(data: DataConfig, seed: int, record: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Write the dataset that `record` (the source stage's output) names into the empty folder
    `out_dir`; return its layout summary."""
    if data.source == "sample":
        sample = data.sample
        spec = SampleSpec(sample.classes, sample.train_per_class, sample.test_per_class,
                          sample.min_side, sample.max_side, seed)
        write_sample(spec, out_dir, jpeg_quality=sample.jpeg_quality)
        origin: dict[str, Any] = {"source": "sample", "seed": seed}
    elif data.source == "local":
        source = local_source_path(data.local)
        if is_archive(source):
            layout = unpack(source, out_dir, _limits(data))
        elif source.is_file():
            raise PipelineError(f"{source}: not a dataset folder nor a .zip/.tar archive; "
                                "unpack it and set data.local.path to the folder")
        else:
            layout = copy_dataset(source, out_dir, move=False)
        origin = {"source": "local", "path": str(source), "layout": layout}
    else:
        origin = download_kaggle(data, record, out_dir)
    counts = summarize(find_images(out_dir))
    classes = sorted({label for per_class in counts.values() for label in per_class})
    rejected = origin.get("layout", {}).pop("rejected", [])
    return {**origin, "splits": counts, "classes": classes, "rejected": rejected}


def main(params: Params) -> None:
    """Download the dataset named in params.yaml into paths.raw."""
    record = json.loads(params.paths.source.read_text(encoding="utf-8"))
    with atomic.atomic_path(params.paths.raw) as tmp:
        tmp.mkdir()
        layout = download(params.data, params.base.seed, record, tmp)
        atomic.write_json(tmp / LAYOUT_FILE, layout)
    log.info("%s dataset in %s: %s", layout["source"], params.paths.raw, layout["splits"])


if __name__ == "__main__":
    run_stage("download", main)
