"""A fixed-size sample of a dataset version embedded by a model's penultimate layer (fc7's
activations), the input of the embedding drift test, and the model's class probabilities of
those embeddings (its last layer applied to them), the input of the prediction drift tests."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from alexnet_pipeline.evaluation.predict import model_input
from alexnet_pipeline.input.tfrecords import ShardFormat

log = logging.getLogger(__name__)
OUTPUT_LAYER = "predictions"  # the embedding is this layer's input: fc7 after (inference-time) dropout
BATCH = 32
HEAD_BATCH = 1024  # embeddings per call of the last layer


def sample_rows(table: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """`size` images of the table (all when fewer), drawn with `seed`, in path order."""
    drawn = table.sample(n=min(size, len(table)), random_state=np.random.RandomState(seed % 2**32))
    return drawn.sort_values("path")


def embedding_model(model: keras.Model) -> keras.Model:
    """`model` up to its penultimate layer: 4096 features per image for AlexNet."""
    return keras.Model(model.input, model.get_layer(OUTPUT_LAYER).input)


def embed_files(model: keras.Model, files: list[Path], shards: ShardFormat, resize: str) -> np.ndarray:
    """The penultimate-layer features (float32, one row per file) of each file's centre crop,
    prepared exactly as evaluation prepares test images."""
    features = embedding_model(model)
    rows: list[np.ndarray] = []
    for start in range(0, len(files), BATCH):
        crops = np.concatenate([np.asarray(model_input(path, shards, resize)) for path in files[start:start + BATCH]])
        rows.append(np.asarray(features(crops, training=False), dtype=np.float32))
    log.info("embedded %d images with %s", len(files), model.name)
    width = features.output_shape[-1]
    return np.concatenate(rows) if rows else np.zeros((0, width), dtype=np.float32)


def classifier_head(model: keras.Model) -> keras.Model:
    """`model` from its penultimate layer on: the `predictions` layer and whatever follows it (its
    softmax), so that the head of an image's embedding is the model's output for that image."""
    return keras.Model(model.get_layer(OUTPUT_LAYER).input, model.output)


def class_probabilities(model: keras.Model, embeddings: np.ndarray) -> np.ndarray:
    """The model's class probabilities (float64, one row per embedding, in its output order) of
    embeddings that `embed_files` made with the same model: one forward pass gives both, and a
    blessed store keeps only embeddings."""
    head = classifier_head(model)
    rows = [np.asarray(head(embeddings[start:start + HEAD_BATCH], training=False), dtype=np.float64)
            for start in range(0, len(embeddings), HEAD_BATCH)]
    return np.concatenate(rows) if rows else np.zeros((0, head.output_shape[-1]))
