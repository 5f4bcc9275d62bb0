"""preprocess: split, resize and shard the validated images into `paths.processed`.

Outputs: `<split>-NNNNN-of-MMMMM.tfrecord` shards (train, val, test; images in a seeded order
keyed on their content, classes mixed), `classes.json` (the class index), `stats.json`
(per-channel mean/std of the train images and the eigenvalues/vectors of their RGB covariance,
for the paper's PCA lighting augmentation), `shards.json` (how the shards store images),
`splits.json` (image counts per split and class) and `split_table.csv` (every image's path,
split and label: what the gate reads instead of assigning splits again). Shards are written by
parallel worker processes, each shard under a temporary name and then renamed; images stream
through one at a time, so memory does not grow with the dataset. This module does not import
TensorFlow (shard_format writes the records), so workers start fast.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from alexnet_pipeline.config import ClusterConfig, Params, PreprocessConfig
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import (
    CLASSES_FILE,
    MANIFEST_FILE,
    SHARDS_FILE,
    SPLIT_TABLE_FILE,
    SPLITS_FILE,
    STATS_FILE,
)
from alexnet_pipeline.core.contracts import (
    ClassNames,
    ImageStats,
    ShardLayout,
    SplitCounts,
    SplitRow,
    write_contract,
    write_rows,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.core.workers import process_pool, worker_count
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.shards import shard_writer
from alexnet_pipeline.shards.images import stored_size
from alexnet_pipeline.shards.shard_plan import plan_shards
from alexnet_pipeline.shards.shard_writer import (
    PixelStats,
    ShardSettings,
    write_shard_job,
)
from alexnet_pipeline.shards.splitting import assign_splits
from alexnet_pipeline.sources.layout import SPLITS

log = logging.getLogger(__name__)


def preprocess(manifest: pd.DataFrame, raw_dir: Path, out_dir: Path, cfg: PreprocessConfig,
               image_size: int, seed: int, cluster: ClusterConfig | None = None) -> dict[str, Any]:
    """Write shards, class index, stats, split counts and the split table for the images of
    `manifest` into `out_dir`, locally or (`cluster.preprocess: dask`) on a Dask cluster; the
    output is the same."""
    classes = sorted(manifest.loc[manifest["split"] == "train", "label"].unique())
    if len(classes) < 2:
        raise PipelineError(f"the train split has {len(classes)} class(es); at least 2 are needed")
    class_ids = {name: index for index, name in enumerate(classes)}
    manifest = manifest.assign(final_split=assign_splits(manifest, cfg.val_fraction, seed,
                                                         cfg.test_fraction))
    jobs = plan_shards(manifest, class_ids, out_dir, cfg.shard_size, seed)
    settings = ShardSettings(raw_dir, image_size, cfg.resize, cfg.encoding, cfg.jpeg_quality)
    workers = min(worker_count(cfg.workers), len(jobs))
    stats = PixelStats()
    with tqdm(total=len(manifest), desc="preprocess", unit="img", disable=None) as progress, \
            contextlib.ExitStack() as stack:
        if cluster is not None and cluster.preprocess == "dask":
            # Dask and Prefect load only when used
            from alexnet_pipeline.shards.distributed_shards import write_shards_on_dask

            results = write_shards_on_dask(jobs, settings, cluster.dask_address, max(workers, 1))
        elif workers <= 1:
            results = map(write_shard_job, jobs, [settings] * len(jobs))
        else:
            pool = stack.enter_context(process_pool(workers, preload=[shard_writer.__name__]))
            results = pool.map(write_shard_job, jobs, [settings] * len(jobs))
        for job, shard_stats in zip(jobs, results, strict=True):  # in job order: deterministic
            stats.merge(shard_stats)
            progress.update(len(job.images))
    counts = {split: {str(k): int(v) for k, v in group.groupby("label").size().items()}
              for split in SPLITS if not (group := manifest[manifest["final_split"] == split]).empty}
    for split, per_class in counts.items():
        log.info("%s: %d images", split, sum(per_class.values()))
    write_contract(out_dir / CLASSES_FILE, ClassNames, classes)
    write_contract(out_dir / STATS_FILE, ImageStats, {**stats.as_json(), "image_size": image_size})
    write_contract(out_dir / SHARDS_FILE, ShardLayout, {
        "encoding": cfg.encoding, "resize": cfg.resize, "image_size": image_size,
        "stored_size": stored_size(cfg.resize, image_size), "jpeg_quality": cfg.jpeg_quality})
    write_contract(out_dir / SPLITS_FILE, SplitCounts, counts)
    table = manifest.sort_values("path")[["path", "final_split", "label"]]
    write_rows(out_dir / SPLIT_TABLE_FILE, SplitRow,
               ({"path": path, "split": split, "label": label}
                for path, split, label in table.itertuples(index=False)))
    return counts


def main(params: Params) -> None:
    """Shard the validated images listed in paths.validated."""
    paths = params.paths
    manifest = pd.read_csv(paths.validated / MANIFEST_FILE, dtype={"path": str, "label": str},
                           keep_default_na=False)
    with atomic.atomic_path(paths.processed) as tmp:
        tmp.mkdir()
        preprocess(manifest, paths.raw, tmp, params.preprocess, params.base.image_size,
                   params.base.seed, params.cluster)
    log.info("shards written to %s", paths.processed)


if __name__ == "__main__":
    run_stage("preprocess", main)
