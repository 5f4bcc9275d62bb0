"""export: write `paths.serving`, the `evaluate.model` model as a TensorFlow SavedModel for serving.

Its `serving_default` signature takes encoded image bytes and applies the evaluation
preprocessing in the graph (see `alexnet_pipeline.evaluation.serving`); `labels.txt` lists the classes.
"""

from __future__ import annotations

import logging

from alexnet_pipeline.config import Params
from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.contracts import ClassNames, read_contract
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.evaluation.serving import export_for_serving
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.training.model import load_model

log = logging.getLogger(__name__)


def main(params: Params) -> None:
    """Export the `evaluate.model` model with paths.labels to paths.serving."""
    paths = params.paths
    if not params.scored_model.exists():
        raise PipelineError(f"{params.scored_model}: no trained model; run the train stage first")
    labels = read_contract(ClassNames, paths.labels).root
    with atomic.atomic_path(paths.serving) as folder:
        export_for_serving(load_model(params.scored_model), labels, ShardFormat.read(paths.processed),
                           params.preprocess.resize, folder, ten_crop=params.evaluate.ten_crop)
    log.info("SavedModel for serving written to %s (signature serving_default: image_bytes)", paths.serving)


if __name__ == "__main__":
    run_stage("export", main)
