"""Write shards on a Dask cluster through Prefect's DaskTaskRunner: one Prefect task per shard.

Each task writes its shard exactly as a local worker would (same job, same settings) and returns
its pixel statistics; the results come back in shard order, so the statistics, and every byte of
the output, equal a single-machine run. The workers need the project installed and the shard
folder on a shared filesystem.
"""

from __future__ import annotations

import logging

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect_dask import DaskTaskRunner

from alexnet_pipeline.shards.shard_writer import (
    PixelStats,
    ShardJob,
    ShardSettings,
    write_shard_job,
)

log = logging.getLogger(__name__)


@task(name="write shard", cache_policy=NO_CACHE)
def write_shard_task(job: ShardJob, settings: ShardSettings) -> PixelStats:
    """One shard, on whichever Dask worker the runner picks."""
    return write_shard_job(job, settings)


def write_shards_on_dask(jobs: list[ShardJob], settings: ShardSettings, address: str, workers: int
                         ) -> list[PixelStats]:
    """Run every job as a task on the Dask scheduler at `address` ("" starts a local cluster of
    `workers` processes); return their statistics in job order."""
    runner = (DaskTaskRunner(address=address) if address else
              DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True}))
    log.info("writing %d shards on %s", len(jobs), address or f"a local Dask cluster of {workers} processes")

    @flow(name="preprocess-shards", task_runner=runner)
    def preprocess_shards() -> list[PixelStats]:
        """The jobs stay out of the flow's parameters: a big dataset has millions of paths."""
        return [future.result() for future in write_shard_task.map(jobs, unmapped(settings))]

    return preprocess_shards()
