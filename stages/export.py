"""export: write `paths.serving`, the blessed model (`paths.blessed`) as a TensorFlow SavedModel.

Only a model the gate blessed is served: a rejected candidate leaves the blessed model, and so
this stage's input, unchanged. Its `serving_default` signature takes encoded image bytes and
applies the evaluation preprocessing in the graph (see `alexnet_pipeline.evaluation.serving`);
`labels.txt` lists the classes.
"""

from __future__ import annotations

import logging

from alexnet_pipeline.config import Params
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.artifacts import SHARDS_FILE
from alexnet_pipeline.core.contracts import ShardLayout, read_contract
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.evaluation.serving import export_for_serving
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.registry.blessed_store import read_blessed
from alexnet_pipeline.training.model import load_model

log = logging.getLogger(__name__)


def main(params: Params) -> None:
    """Export the blessed model in paths.blessed to paths.serving."""
    paths = params.paths
    blessed = read_blessed(paths.blessed)
    if blessed is None:
        raise PipelineError(f"{paths.blessed}: no blessed model to serve: the gate has not promoted any candidate "
                            f"({paths.gate} says why); improve the model or lower gate.min_accuracy, then dvc repro")
    layout = read_contract(ShardLayout, paths.blessed / SHARDS_FILE)
    with atomic.atomic_path(paths.serving) as folder:
        export_for_serving(load_model(blessed.model_file), blessed.labels, ShardFormat.read(paths.blessed),
                           layout.resize, folder, ten_crop=params.evaluate.ten_crop)
    log.info("blessed model %s exported for serving to %s (signature serving_default: image_bytes)",
             blessed.version.version, paths.serving)


if __name__ == "__main__":
    run_stage("export", main)
