"""The blessed store: the weights' digest that tells the same model from another, the store's files
written atomically, and what a later run reads back from them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from alexnet_pipeline.core.contracts import ContractError
from alexnet_pipeline.drift.dataset_table import TABLE_COLUMNS
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.registry.blessed_store import (
    EMPTY_TEXT,
    ensure_exists,
    read_blessed,
    version_name,
    weights_digest,
    write_blessed,
)
from tests.helpers import tree_digests

LAYOUT = {"encoding": "raw", "resize": "pad", "image_size": 67, "stored_size": 70,
          "jpeg_quality": 80}
STORE_FILES = ["embeddings.npy", "labels.json", "model.keras", "model_card.json", "model_card.md",
               "reference.csv", "shards.json", "version.json"]
CARD = {"version": "v3.0.0", "blessed_at": "2026-12-05T09:00:00+00:00", "intended_use": "tests", "data": {},
        "metrics": {}, "training": {}, "findings": {}, "gate": {}, "limits": ["none"]}


def _model(seed: int) -> keras.Model:
    """A small model with the layer names the store and the embeddings rely on."""
    inputs = keras.Input((4,))
    initializer = keras.initializers.GlorotUniform(seed)
    features = keras.layers.Dense(3, name="fc7", kernel_initializer=initializer)(inputs)
    outputs = keras.layers.Dense(2, name="predictions", activation="softmax")(features)
    return keras.Model(inputs, outputs)


def _version(number: int = 3, **changes) -> dict:
    return {"version": version_name(number), "number": number, "weights_sha256": "ab" * 32,
            "classes": ["a", "b"], "image_size": 67, "accuracy": 0.75, "loss": 0.5, "images": 2,
            **changes}


def _reference() -> pd.DataFrame:
    return pd.DataFrame({"path": ["train/a/1.png", "test/b/2.png"], "split": ["train", "test"],
                         "label": ["a", "b"], "sha256": ["1" * 64, "2" * 64],
                         "format": ["PNG", "JPEG"], "width": [40, 41], "height": [50, 51],
                         "brightness": [10.5, 20.25], "extra": [1, 2]})


def _write(tmp_path: Path, folder: Path, **version) -> object:
    model_file = tmp_path / "candidate.keras"
    _model(0).save(model_file)
    shards_file = tmp_path / "shards.json"
    shards_file.write_text(json.dumps(LAYOUT))
    return write_blessed(folder, model_file, ["a", "b"], shards_file, _version(**version),
                         _reference(), np.arange(6, dtype=np.float64).reshape(2, 3), (CARD, "# card\n"))


def test_version_names_are_gto_semver() -> None:
    assert [version_name(n) for n in (1, 2, 12)] == ["v1.0.0", "v2.0.0", "v12.0.0"]


def test_the_digest_is_the_weights_sha256_and_survives_save_and_load(tmp_path: Path) -> None:
    model = _model(1)
    weights = b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())
    by_hand = hashlib.sha256(weights).hexdigest()
    assert weights_digest(model) == by_hand
    model.save(tmp_path / "m.keras")
    assert weights_digest(keras.models.load_model(tmp_path / "m.keras")) == by_hand
    assert weights_digest(keras.models.load_model(tmp_path / "m.keras")) == by_hand  # and again
    assert weights_digest(_model(2)) != by_hand
    weights = model.get_weights()
    weights[-1] = np.nextafter(weights[-1], np.float32(1))  # the last bias, one step up
    model.set_weights(weights)
    assert weights_digest(model) != by_hand


def test_nothing_blessed_reads_as_none_and_gets_a_note(tmp_path: Path) -> None:
    folder = tmp_path / "blessed"
    assert read_blessed(folder) is None
    ensure_exists(folder)
    assert tree_digests(folder) == {"README.txt": hashlib.sha256(EMPTY_TEXT.encode()).hexdigest()}
    assert read_blessed(folder) is None
    assert EMPTY_TEXT == ("No model has been blessed yet: the gate has not promoted any candidate "
                          "(see paths.gate).\n")
    assert [p.name for p in tmp_path.iterdir()] == ["blessed"]  # no temporary left beside it


def test_a_blessed_store_is_written_whole_and_read_back(tmp_path: Path) -> None:
    folder = tmp_path / "blessed"
    ensure_exists(folder)
    written = _write(tmp_path, folder)
    assert sorted(p.name for p in folder.iterdir()) == STORE_FILES
    assert (folder / "model.keras").read_bytes() == (tmp_path / "candidate.keras").read_bytes()
    blessed = read_blessed(folder)
    assert blessed == written and blessed.folder == folder
    assert blessed.version.model_dump() == {**_version(), "data_fingerprint": None}
    assert blessed.card().model_dump() == CARD and (folder / "model_card.md").read_text() == "# card\n"
    assert blessed.model_file == folder / "model.keras"
    assert blessed.labels == ["a", "b"]
    reference = blessed.reference()
    assert list(reference.columns) == TABLE_COLUMNS
    assert reference.to_dict("list") == _reference()[TABLE_COLUMNS].to_dict("list")
    embeddings = blessed.embeddings()
    assert embeddings.dtype == np.float32 and embeddings.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert blessed.input_format() == (ShardFormat("raw", 70, 67, 80), "pad")
    assert json.loads((folder / "shards.json").read_text()) == LAYOUT
    ensure_exists(folder)  # an existing store is left as it is
    assert read_blessed(folder) == written


def test_a_failed_write_leaves_the_old_store(tmp_path: Path) -> None:
    folder = tmp_path / "blessed"
    _write(tmp_path, folder, number=1)
    before = tree_digests(folder)
    with pytest.raises(ContractError, match="version.json: refusing to write it: `accuracy`"):
        _write(tmp_path, folder, accuracy="high")
    assert tree_digests(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blessed", "candidate.keras",
                                                          "shards.json"]  # no temporary left
