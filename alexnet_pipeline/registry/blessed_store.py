"""`paths.blessed`: the blessed model and what a later run compares against, kept between runs
(a DVC output with `persist: true`, so DVC does not delete it before the gate runs).

It holds the model file, its labels and shard format (what export and `alexnet predict` need),
`version.json`, its model card (`model_card.json`, and as Markdown), and its dataset's reference: every image's split, class, hash, size, format and
brightness (`reference.csv`) and a fixed-size sample of embeddings (`embeddings.npy`).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.contracts import (
    BlessedVersion,
    ClassNames,
    ModelCard,
    ShardLayout,
    read_contract,
    write_contract,
)
from alexnet_pipeline.drift.dataset_table import read_table, write_table

if TYPE_CHECKING:  # TensorFlow loads only where a model runs: `alexnet models` lists versions without it
    import keras

    from alexnet_pipeline.input.tfrecords import ShardFormat

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.json"
SHARDS_FILE = "shards.json"
VERSION_FILE = "version.json"
REFERENCE_FILE = "reference.csv"
EMBEDDINGS_FILE = "embeddings.npy"
CARD_FILE = "model_card.json"
CARD_MARKDOWN_FILE = "model_card.md"
EMPTY_NOTE = "README.txt"
EMPTY_TEXT = "No model has been blessed yet: the gate has not promoted any candidate (see paths.gate).\n"


@dataclass(frozen=True)
class BlessedModel:
    """The blessed model in its folder."""

    folder: Path
    version: BlessedVersion

    @property
    def model_file(self) -> Path:
        return self.folder / MODEL_FILE

    @property
    def labels(self) -> list[str]:
        return read_contract(ClassNames, self.folder / LABELS_FILE).root

    def input_format(self) -> tuple[ShardFormat, str]:
        """How the blessed model was fed its images (shard format and resize policy): this run's
        images are embedded by it the same way, whatever this run's own size and policy."""
        from alexnet_pipeline.input.tfrecords import ShardFormat

        layout = read_contract(ShardLayout, self.folder / SHARDS_FILE)
        shards = ShardFormat(layout.encoding, layout.stored_size, layout.image_size,
                             layout.jpeg_quality)
        return shards, layout.resize

    def reference(self) -> pd.DataFrame:
        return read_table(self.folder / REFERENCE_FILE)

    def embeddings(self) -> np.ndarray:
        return np.load(self.folder / EMBEDDINGS_FILE)

    def card(self) -> ModelCard | None:
        """Its model card; None in a store blessed before cards existed."""
        path = self.folder / CARD_FILE
        return read_contract(ModelCard, path) if path.exists() else None


def version_name(number: int) -> str:
    """The N-th blessed model's version in GTO's SemVer format."""
    return f"v{number}.0.0"


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of the model's weights: the same digest means the same model, whatever the file's
    timestamps."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def read_blessed(folder: Path) -> BlessedModel | None:
    """The blessed model in `folder`, or None when nothing has been blessed yet."""
    if not (folder / VERSION_FILE).is_file():
        return None
    return BlessedModel(folder, read_contract(BlessedVersion, folder / VERSION_FILE))


def ensure_exists(folder: Path) -> None:
    """An empty store with a note, so that DVC always finds its output."""
    if not folder.exists():
        with atomic.atomic_path(folder) as tmp:
            tmp.mkdir()
            (tmp / EMPTY_NOTE).write_text(EMPTY_TEXT)


def write_blessed(folder: Path, model_file: Path, labels: list[str], shards_file: Path, version: dict[str, Any],
                  reference: pd.DataFrame, embeddings: np.ndarray, card: tuple[dict[str, Any], str]) -> BlessedModel:
    """Replace the store with a newly blessed model and its card (content and Markdown),
    atomically: a failure leaves the old one."""
    with atomic.atomic_path(folder) as tmp:
        tmp.mkdir()
        shutil.copyfile(model_file, tmp / MODEL_FILE)
        shutil.copyfile(shards_file, tmp / SHARDS_FILE)
        write_contract(tmp / LABELS_FILE, ClassNames, labels)
        write_table(reference, tmp / REFERENCE_FILE)
        np.save(tmp / EMBEDDINGS_FILE, embeddings.astype(np.float32))
        write_contract(tmp / CARD_FILE, ModelCard, card[0])
        (tmp / CARD_MARKDOWN_FILE).write_text(card[1], encoding="utf-8")
        written = write_contract(tmp / VERSION_FILE, BlessedVersion, version)
    return BlessedModel(folder, written)
