"""train: fit AlexNet on the train shards, validating on val; save the last and the best model.

The recipe (`train.recipe`), precision (`train.mixed_precision`) and devices (every visible GPU,
the global batch split among them) come from params; with a `TF_CONFIG` cluster, every host runs
this stage and the global batch is split among all their replicas (`multi_worker`), while only the
chief writes. An interrupted run resumes from its last finished epoch (`training.run`). Per-epoch
metrics go to dvclive and TensorBoard under `paths.train_logs`, with `summary.json`. Models are
written atomically.
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

from alexnet_pipeline.config import Params
from alexnet_pipeline.core.artifacts import CLASSES_FILE, STATS_FILE
from alexnet_pipeline.core.contracts import ClassNames, ImageStats, read_contract
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.training import devices, multi_worker, recipes, tf_config
from alexnet_pipeline.training.run import follow_chief, train_as_chief

log = logging.getLogger(__name__)


def main(params: Params) -> None:
    """Train on paths.processed; write paths.model, best_model, labels and train_logs (the chief
    of a `TF_CONFIG` cluster writes; the other workers only train)."""
    cluster = tf_config.cluster_from_env()
    if cluster and not cluster.is_chief:
        tf_config.wait_for_chief(cluster, params.cluster.chief_wait_s)
    strategy = multi_worker.make_strategy() if cluster else None  # before any other TensorFlow op
    cfg = recipes.effective(params.train)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = devices.visible_gpus()
    precision = devices.choose_precision(cfg.mixed_precision, devices.detect_hardware())
    keras.mixed_precision.set_global_policy(precision.policy)
    strategy = strategy or devices.strategy_for(gpus)
    log.info("training on %s, %s (%s), %d replica(s)%s", ", ".join(gpus) if gpus else "the CPU (no GPU visible)",
             precision.policy, precision.reason, strategy.num_replicas_in_sync,
             f" across {cluster.size} workers (this is worker {cluster.rank})" if cluster else "")
    classes = read_contract(ClassNames, params.paths.processed / CLASSES_FILE).root
    stats = read_contract(ImageStats, params.paths.processed / STATS_FILE).model_dump()
    if cluster and not cluster.is_chief:
        follow_chief(cfg, params, cluster, strategy, classes, stats)
    else:
        train_as_chief(params, cfg, strategy, precision, gpus, cluster, classes, stats)


if __name__ == "__main__":
    run_stage("train", main)
