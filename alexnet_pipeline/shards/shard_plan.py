"""Which image goes into which shard: a seeded, content-keyed order per split, cut into shards,
so that a reader drawing from a few shards at a time still gets well-mixed batches."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alexnet_pipeline.shards.shard_format import shard_name
from alexnet_pipeline.shards.shard_writer import ShardJob
from alexnet_pipeline.shards.splitting import unit_hash
from alexnet_pipeline.sources.layout import SPLITS

SHARD_ORDER_SALT = "shard-order"  # keeps the order's hash apart from the split assignment's


def shard_order(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """`rows` in a seeded order keyed on each image's content (ties, identical files, by path):
    classes are mixed within and across shards, so a reader that draws from a few shards at a
    time gets batches as mixed as a uniform shuffle's, at any dataset size; the order never
    depends on how the files are named or listed."""
    keys = [unit_hash(seed, f"{SHARD_ORDER_SALT}:{sha256}") for sha256 in rows["sha256"]]
    return rows.assign(_order=keys).sort_values(["_order", "path"], kind="stable").drop(columns="_order")


def plan_shards(manifest: pd.DataFrame, class_ids: dict[str, int], out_dir: Path,
                shard_size: int, seed: int) -> list[ShardJob]:
    """Every split's images in `shard_order`, cut into shards of `shard_size`."""
    jobs = []
    for split in SPLITS:
        rows = shard_order(manifest[manifest["final_split"] == split], seed)
        images = [(row.path, class_ids[row.label], row.sha256) for row in rows.itertuples(index=False)]
        count = -(-len(images) // shard_size)
        for index in range(count):
            chunk = tuple(images[index * shard_size:(index + 1) * shard_size])
            jobs.append(ShardJob(out_dir / shard_name(split, index, count), split, chunk))
    return jobs
