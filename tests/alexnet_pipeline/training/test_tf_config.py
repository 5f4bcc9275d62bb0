"""tf_config: reading TF_CONFIG and waiting for the chief, with clear errors."""

from __future__ import annotations

import json
import socket

import pytest

from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.training.tf_config import WorkerCluster, cluster_from_env, wait_for_chief


def _tf_config(cluster: dict, task_type: str = "worker", index: int = 0) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


@pytest.mark.parametrize("environ", [{}, {"TF_CONFIG": "  "}, _tf_config({"worker": ["a:1"]})])
def test_no_cluster_or_a_single_task_trains_on_this_machine(environ: dict[str, str]) -> None:
    assert cluster_from_env(environ) is None


def test_workers_only_make_worker_0_the_chief() -> None:
    cluster = {"worker": ["a:1", "b:1", "c:1"]}
    assert cluster_from_env(_tf_config(cluster, index=0)) == WorkerCluster(3, "worker", 0, has_chief_task=False,
                                                                                     chief_address="a:1")
    second = cluster_from_env(_tf_config(cluster, index=1))
    assert cluster_from_env(_tf_config(cluster, index=0)).is_chief
    assert not second.is_chief and second.rank == 1 and second.size == 3


def test_a_chief_task_is_the_chief_and_workers_rank_after_it() -> None:
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    chief = cluster_from_env(_tf_config(cluster, "chief", 0))
    worker = cluster_from_env(_tf_config(cluster, "worker", 0))
    assert chief.is_chief and chief.rank == 0 and chief.size == 3
    assert not worker.is_chief and worker.rank == 1


@pytest.mark.parametrize(("raw", "expected"), [
    ("{not json", "is not valid JSON"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:1"]}}), "needs a `cluster` and a `task`"),
    (json.dumps({"cluster": {"worker": ["a:1"], "ps": ["p:1"]}, "task": {"type": "ps", "index": 0}}),
     "training uses only `chief` and `worker`"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}),
     "which is not in its cluster"),
    (json.dumps({"cluster": {"worker": "a:1,b:1"}, "task": {"type": "worker", "index": 0}}),
     "must list addresses under `worker`"),
])
def test_a_bad_tf_config_is_a_clear_error(raw: str, expected: str) -> None:
    with pytest.raises(PipelineError, match="TF_CONFIG") as error:
        cluster_from_env({"TF_CONFIG": raw})
    assert expected in str(error.value) and "unset it to train on this machine only" in str(error.value)



def test_a_worker_gives_up_on_a_chief_that_never_starts_with_a_clear_error() -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    cluster = cluster_from_env(_tf_config({"worker": [f"127.0.0.1:{port}", "b:1"]}, index=1))
    with pytest.raises(PipelineError) as error:
        wait_for_chief(cluster, timeout_s=0.3, poll_s=0.1)
    message = str(error.value)
    assert f"the chief (127.0.0.1:{port} in TF_CONFIG) did not start training within 0 s" in message
    assert "cluster.chief_wait_s" in message and "dvc status train" in message


def test_a_worker_goes_on_once_the_chief_listens() -> None:
    with socket.socket() as chief:
        chief.bind(("127.0.0.1", 0))
        chief.listen()
        address = f"127.0.0.1:{chief.getsockname()[1]}"
        cluster = cluster_from_env(_tf_config({"chief": [address], "worker": ["b:1"]}, "worker", 0))
        assert cluster.chief_address == address and cluster.rank == 1
        wait_for_chief(cluster, timeout_s=5)
