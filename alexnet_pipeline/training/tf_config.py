"""Reading `TF_CONFIG`, which places this process in a training cluster (docs/scaling.md).

Kept free of TensorFlow, so that `alexnet train-worker` starts fast.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

from alexnet_pipeline.errors import PipelineError

log = logging.getLogger(__name__)

TASK_TYPES = ("chief", "worker")


@dataclass(frozen=True)
class WorkerCluster:
    """This process's place in a `TF_CONFIG` cluster of two or more training tasks."""

    size: int
    task_type: str
    task_index: int
    has_chief_task: bool
    chief_address: str  # host:port of the chief: the `chief` task, else worker 0

    @property
    def is_chief(self) -> bool:
        """The one task that writes checkpoints, logs and the model."""
        return self.rank == 0

    @property
    def rank(self) -> int:
        """0 for the chief, then the workers in `TF_CONFIG` order."""
        if self.task_type == "chief":
            return 0
        return self.task_index + (1 if self.has_chief_task else 0)


def _config_error(problem: str) -> PipelineError:
    """What is wrong with TF_CONFIG, with an example of a right one."""
    return PipelineError(
        f"TF_CONFIG {problem}. It should look like "
        '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}} '
        "(docs/scaling.md); unset it to train on this machine only")


def cluster_from_env(environ: Mapping[str, str] = os.environ) -> WorkerCluster | None:
    """The training cluster `TF_CONFIG` describes, or None without one (or with a single task)."""
    raw = environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _config_error(f"is not valid JSON ({exc})") from None
    cluster, task = (config.get("cluster"), config.get("task")) if isinstance(config, dict) else (None, None)
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise _config_error("needs a `cluster` and a `task` object")
    unknown = sorted(set(cluster) - set(TASK_TYPES))
    if unknown:
        raise _config_error(f"has task types {unknown}: training uses only `chief` and `worker` "
                            "(MultiWorkerMirroredStrategy has no parameter servers or evaluators)")
    if not all(isinstance(cluster.get(kind, []), list) for kind in TASK_TYPES) or len(cluster.get("chief", [])) > 1:
        raise _config_error("must list addresses under `worker` (and at most one under `chief`)")
    task_type, task_index = task.get("type"), task.get("index")
    if task_type not in cluster or not isinstance(task_index, int) \
            or not 0 <= task_index < len(cluster[task_type]):
        raise _config_error(f"has task {task!r}, which is not in its cluster {cluster!r}")
    size = sum(len(cluster.get(kind, [])) for kind in TASK_TYPES)
    if size < 2:
        return None
    chief = (cluster.get("chief") or cluster["worker"])[0]
    return WorkerCluster(size, task_type, task_index, has_chief_task=bool(cluster.get("chief")), chief_address=chief)


def wait_for_chief(cluster: WorkerCluster, timeout_s: float, poll_s: float = 1.0) -> None:
    """Wait until the chief's address accepts connections, which it does once its train stage has
    started; fail clearly after `timeout_s` rather than let TensorFlow wait for it indefinitely."""
    host, _, port = cluster.chief_address.rpartition(":")
    deadline = time.monotonic() + timeout_s
    log.info("waiting up to %.0f s for the chief at %s", timeout_s, cluster.chief_address)
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=poll_s):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise PipelineError(
                    f"the chief ({cluster.chief_address} in TF_CONFIG) did not start training within "
                    f"{timeout_s:.0f} s (cluster.chief_wait_s). Run `alexnet train-worker` there too; if it "
                    "said the train stage is up to date, there is nothing to train (`dvc status train`)") from None
            time.sleep(poll_s)
