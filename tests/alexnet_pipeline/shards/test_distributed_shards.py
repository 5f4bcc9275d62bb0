"""Preprocessing on a Dask cluster (two worker processes, through Prefect's DaskTaskRunner)
writes the same bytes as a single-process run."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

from alexnet_pipeline.config import ClusterConfig, load_params
from alexnet_pipeline.errors import ConfigError
from alexnet_pipeline.sources.layout import find_images
from alexnet_pipeline.validation.manifest import build_manifest
from stages.preprocess import preprocess
from tests.helpers import sha256_of, write_params

pytestmark = pytest.mark.slow


def _manifest(root: Path):
    for label, colour in (("amber", (200, 100, 50)), ("teal", (0, 120, 120))):
        for split, count in (("train", 9), ("test", 3)):
            for index in range(count):
                path = root / split / label / f"{index}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (50 + 3 * index, 80 - index), colour).save(path)
    return build_manifest(find_images(root), root)


def test_dask_shards_are_byte_identical_to_a_single_process(tmp_path: Path, prefect_harness) -> None:
    raw = tmp_path / "raw"
    manifest = _manifest(raw)
    params = load_params(write_params(tmp_path, base__image_size=67, preprocess__shard_size=3,
                                      preprocess__workers=2))
    outputs = {}
    for engine in ("local", "dask"):
        out = tmp_path / engine
        out.mkdir()
        # one process locally; two Dask worker processes
        cfg = params.preprocess.model_copy(update={"workers": 1 if engine == "local" else 2})
        preprocess(manifest, raw, out, cfg, 67, 42, ClusterConfig(preprocess=engine, dask_address="", chief_wait_s=600.0))
        outputs[engine] = {path.name: sha256_of(path) for path in sorted(out.iterdir())}

    assert outputs["dask"] == outputs["local"]
    shards = [name for name in outputs["local"] if name.endswith(".tfrecord")]
    assert len(shards) >= 6  # train, val and test, several shards each
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="write shard")))
    assert len(runs) == len(shards) and all(run.state.is_completed() for run in runs)


@pytest.mark.parametrize(("cluster", "message"), [
    ({"preprocess": "spark"}, "cluster.preprocess"),
    ({"preprocess": "dask", "dask_address": "10.0.0.5:8786"}, "must be a scheduler address"),
    ({"preprocess": "local", "dask_address": "tcp://10.0.0.5:8786"}, "only used with cluster.preprocess: dask"),
])
def test_bad_cluster_settings_are_clear_errors(tmp_path: Path, cluster: dict, message: str) -> None:
    overrides = {f"cluster__{key}": value for key, value in cluster.items()}
    with pytest.raises(ConfigError, match=message):
        load_params(write_params(tmp_path, **overrides))
