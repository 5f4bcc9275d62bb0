"""download: put the dataset in `paths.raw` as `<split>/<class>/<file>`, plus `layout.json`.

Sources: `sample` (the built-in synthetic generator), `local` (a copy of a dataset folder, or
the safely extracted contents of a zip/tar of one; the source is never modified) and `kaggle`
(the archive the `source` stage resolved, from the download cache, safely extracted). Layout detection maps any supported shape to canonical split and class names.
The folder is written whole or not at all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alexnet_pipeline.config import DataConfig, Params
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import LAYOUT_FILE
from alexnet_pipeline.core.contracts import (
    DatasetLayout,
    SourceRecord,
    read_contract,
    write_contract,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.archives import is_archive
from alexnet_pipeline.sources.canonical_copy import (
    copy_dataset,
    download_kaggle,
    extraction_limits,
    unpack,
)
from alexnet_pipeline.sources.layout import find_images, summarize
from alexnet_pipeline.sources.local_source import local_source_path
from alexnet_pipeline.sources.sample_data import SampleSpec, write_sample

log = logging.getLogger(__name__)


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
            layout = unpack(source, out_dir, extraction_limits(data))
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
    record = read_contract(SourceRecord, params.paths.source).model_dump()
    with atomic.atomic_path(params.paths.raw) as tmp:
        tmp.mkdir()
        layout = download(params.data, params.base.seed, record, tmp)
        write_contract(tmp / LAYOUT_FILE, DatasetLayout, layout)
    log.info("%s dataset in %s: %s", layout["source"], params.paths.raw, layout["splits"])


if __name__ == "__main__":
    run_stage("download", main)
