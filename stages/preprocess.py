"""preprocess: split, resize and shard the validated images into `paths.processed`.

Outputs: `<split>-NNNNN-of-MMMMM.tfrecord` shards (train, val, test), `classes.json` (the class
index), `stats.json` (per-channel mean/std of the train images, as the model sees them) and
`splits.json` (image counts per split and class). Images stream through one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alexnet_pipeline import atomic
from alexnet_pipeline.artifacts import CLASSES_FILE, MANIFEST_FILE, SPLITS_FILE, STATS_FILE
from alexnet_pipeline.config import Params, PreprocessConfig
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.images import encode_jpeg, prepare_image
from alexnet_pipeline.layout import SPLITS
from alexnet_pipeline.splitting import assign_splits
from alexnet_pipeline.stage_runner import run_stage
from alexnet_pipeline.tfrecords import serialize_example, write_shards

log = logging.getLogger(__name__)


class ChannelStats:
    """Running per-channel mean and standard deviation of uint8 RGB images (as resized)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = np.zeros(3, dtype=np.float64)
        self.total_sq = np.zeros(3, dtype=np.float64)

    def add(self, pixels: np.ndarray) -> None:
        flat = pixels.reshape(-1, 3).astype(np.float64)
        self.count += flat.shape[0]
        self.total += flat.sum(axis=0)
        self.total_sq += np.square(flat).sum(axis=0)

    def as_json(self) -> dict[str, Any]:
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.total_sq / self.count - mean**2, 1e-12))
        return {"mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std],
                "pixels": self.count}


def preprocess(manifest: pd.DataFrame, raw_dir: Path, out_dir: Path, cfg: PreprocessConfig,
               image_size: int, seed: int) -> dict[str, Any]:
    """Write shards, class index and stats for the images of `manifest` into `out_dir`."""
    classes = sorted(manifest.loc[manifest["split"] == "train", "label"].unique())
    if len(classes) < 2:
        raise PipelineError(f"the train split has {len(classes)} class(es); at least 2 are needed")
    class_ids = {name: index for index, name in enumerate(classes)}
    manifest = manifest.assign(final_split=assign_splits(manifest, cfg.val_fraction, seed,
                                                         cfg.test_fraction))
    stats = ChannelStats()

    def records(rows: pd.DataFrame, split: str) -> Iterator[bytes]:
        for row in rows.itertuples(index=False):
            image = prepare_image(raw_dir / row.path, image_size, cfg.resize)
            if split == "train":
                stats.add(np.asarray(image))
            yield serialize_example(encode_jpeg(image, cfg.jpeg_quality), class_ids[row.label], row.path)

    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        rows = manifest[manifest["final_split"] == split].sort_values("path")
        if rows.empty:
            continue
        write_shards(records(rows, split), out_dir, split, len(rows), cfg.shard_size)
        counts[split] = {str(k): int(v) for k, v in rows.groupby("label").size().items()}
        log.info("%s: %d images", split, len(rows))
    atomic.write_json(out_dir / CLASSES_FILE, classes)
    atomic.write_json(out_dir / STATS_FILE, {**stats.as_json(), "image_size": image_size})
    atomic.write_json(out_dir / SPLITS_FILE, counts)
    return counts


def main(params: Params) -> None:
    """Shard the validated images listed in paths.validated."""
    paths = params.paths
    manifest = pd.read_csv(paths.validated / MANIFEST_FILE, dtype={"path": str, "label": str},
                           keep_default_na=False)
    with atomic.atomic_path(paths.processed) as tmp:
        tmp.mkdir()
        preprocess(manifest, paths.raw, tmp, params.preprocess, params.base.image_size,
                   params.base.seed)
    log.info("shards written to %s", paths.processed)


if __name__ == "__main__":
    run_stage("preprocess", main)
