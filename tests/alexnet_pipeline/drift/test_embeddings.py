"""The embedding sample: which images are drawn, and their penultimate-layer features, computed
from the files as evaluation prepares test images, in batches; the model's last layer applied to
those features gives its own class probabilities of the images."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from alexnet_pipeline.drift import embeddings as embeddings_module
from alexnet_pipeline.drift.embeddings import (
    BATCH,
    class_probabilities,
    classifier_head,
    embed_files,
    embedding_model,
    sample_rows,
)
from alexnet_pipeline.evaluation.predict import model_input
from alexnet_pipeline.input.tfrecords import ShardFormat
from tests.helpers import write_image

SHARDS = ShardFormat("jpeg", 67, 67, 95)


def _model(dtype: str = "float32") -> keras.Model:
    """A small image model shaped like AlexNet's end: 5 features, dropout, then `predictions`."""
    inputs = keras.Input((67, 67, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(5, name="fc7", kernel_initializer=keras.initializers.GlorotUniform(0),
                           dtype=dtype)(x)
    x = keras.layers.Dropout(0.5, name="drop7", dtype=dtype)(x)
    outputs = keras.layers.Dense(3, name="predictions", activation="softmax")(x)
    return keras.Model(inputs, outputs, name="tiny")


def _table(count: int) -> pd.DataFrame:
    return pd.DataFrame({"path": [f"p{i:03d}.jpg" for i in reversed(range(count))], "label": "a"})


def test_small_tables_are_taken_whole_in_path_order() -> None:
    for size in (5, 6):
        paths = sample_rows(_table(5), size, seed=1)["path"].tolist()
        assert paths == [f"p{i:03d}.jpg" for i in range(5)]


def test_larger_tables_give_a_seeded_sample_in_path_order() -> None:
    table = _table(40)
    sample = sample_rows(table, 10, seed=3)
    assert len(sample) == 10 and sample["path"].is_unique
    assert sample["path"].tolist() == sorted(sample["path"])
    assert sample.equals(sample_rows(table, 10, seed=3))
    assert not sample.equals(sample_rows(table, 10, seed=4))
    expected = table.sample(n=10, random_state=np.random.RandomState(3)).sort_values("path")
    assert sample.equals(expected)
    assert sample.equals(sample_rows(table, 10, seed=2**32 + 3))  # seeds wrap at 2**32


def test_the_embedding_is_the_input_of_the_predictions_layer() -> None:
    model = _model()
    features = embedding_model(model)
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 67, 67, 3)).astype("float32")
    expected = model.get_layer("fc7")(keras.layers.GlobalAveragePooling2D()(images))
    assert features.output_shape == (None, 5)
    assert np.allclose(features(images), expected, atol=1e-5)


def test_files_are_embedded_in_order_across_batches(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    files = [write_image(tmp_path / f"{i}.jpg", size=(60 + i % 7, 70), seed=i)
             for i in range(BATCH + 2)]
    model = _model()
    with caplog.at_level(logging.INFO, logger="alexnet_pipeline.drift.embeddings"):
        embedded = embed_files(model, files, SHARDS, "crop")
    features = embedding_model(model)  # called as at inference: dropout off
    one_by_one = np.concatenate([np.asarray(features(model_input(path, SHARDS, "crop")))
                                 for path in files])
    assert embedded.dtype == np.float32 and embedded.shape == (BATCH + 2, 5)
    assert np.allclose(embedded, one_by_one, atol=1e-5)
    assert len({tuple(row) for row in embedded.round(4)}) == BATCH + 2  # every image its own row
    assert caplog.messages == [f"embedded {BATCH + 2} images with tiny"]


def test_half_precision_features_are_stored_as_float32(tmp_path: Path) -> None:
    """A model trained under mixed precision computes its features in float16."""
    files = [write_image(tmp_path / f"{i}.jpg", size=(70, 70), seed=i) for i in range(2)]
    embedded = embed_files(_model("float16"), files, SHARDS, "crop")
    assert embedded.dtype == np.float32 and embedded.shape == (2, 5)


def test_no_files_give_no_rows_of_the_embedding_width() -> None:
    embedded = embed_files(_model(), [], SHARDS, "crop")
    assert embedded.shape == (0, 5) and embedded.dtype == np.float32


def _model_with_a_softmax_layer() -> keras.Model:
    """`predictions` gives logits and a separate float32 softmax layer follows it."""
    inputs = keras.Input((67, 67, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(5, name="fc7", kernel_initializer=keras.initializers.GlorotUniform(1))(x)
    x = keras.layers.Dense(3, name="predictions", kernel_initializer=keras.initializers.GlorotUniform(2))(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="logits")


@pytest.mark.parametrize("build", [_model, _model_with_a_softmax_layer])
def test_the_head_of_the_embeddings_is_the_models_output(tmp_path: Path, build,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """One forward pass to the embeddings, then the last layer(s): the probabilities the model
    gives the images themselves, in batches of any size."""
    monkeypatch.setattr(embeddings_module, "HEAD_BATCH", 2)
    files = [write_image(tmp_path / f"{i}.jpg", size=(70, 64 + i), seed=i) for i in range(5)]
    model = build()
    probabilities = class_probabilities(model, embed_files(model, files, SHARDS, "crop"))
    direct = np.concatenate([np.asarray(model(model_input(path, SHARDS, "crop"), training=False))
                             for path in files])
    assert probabilities.dtype == np.float64 and probabilities.shape == (5, 3)
    assert np.allclose(probabilities, direct, atol=1e-6)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert [layer.name for layer in classifier_head(model).layers][1:] == (
        ["predictions"] if build is _model else ["predictions", "probabilities"])


def test_no_embeddings_give_no_rows_of_the_class_count() -> None:
    assert class_probabilities(_model(), np.zeros((0, 5), dtype=np.float32)).shape == (0, 3)
