"""Predict classes of image files with a trained model, with the evaluation preprocessing.

Each image goes through exactly what test images went through: `prepare_image`, storage as
in the shards (JPEG at the shard quality, or raw pixels), and the reader's centre crop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from alexnet_pipeline.input.reader import center_crop, decode, ten_crops
from alexnet_pipeline.input.tfrecords import ShardFormat
from alexnet_pipeline.shards.images import encode_jpeg, prepare_image
from alexnet_pipeline.sources.layout import is_junk


@dataclass(frozen=True)
class Prediction:
    """The top classes of one image, or why it could not be read."""

    path: str
    top: list[dict[str, Any]] | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "top": self.top} if self.error is None else {
            "path": self.path, "error": self.error}


def expand_inputs(inputs: Iterable[Path | str]) -> Iterator[Path]:
    """Files as given, and every non-hidden file inside given folders (recursively, sorted)."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not is_junk(p))
        else:
            yield path


def model_input(path: Path, shards: ShardFormat, resize: str, ten_crop: bool = False) -> tf.Tensor:
    """The crops of one image file the model sees at test time: prepared and stored as in the
    shards, decoded, then the centre crop (a batch of one) or the ten crops. Raises what Pillow
    raises for a missing or undecodable file."""
    image = prepare_image(path, shards.image_size, resize)
    data = encode_jpeg(image, shards.jpeg_quality) if shards.encoding == "jpeg" else image.tobytes()
    decoded = decode(data, image.height, image.width, shards.encoding)
    return ten_crops(decoded, shards.image_size) if ten_crop else center_crop(decoded, shards.image_size)[None, ...]


def predict_files(model: keras.Model, labels: list[str], files: list[Path], shards: ShardFormat,
                  resize: str, top_k: int, ten_crop: bool = False) -> Iterator[Prediction]:
    """One Prediction per file; an unreadable file yields an error instead of stopping the rest.
    With `ten_crop` (as `evaluate.ten_crop`), the average over the paper's ten crops."""
    k = min(top_k, len(labels))
    for path in files:
        try:
            crops = model_input(path, shards, resize, ten_crop)
        except FileNotFoundError:
            yield Prediction(str(path), error="file not found")
            continue
        except UnidentifiedImageError:
            yield Prediction(str(path), error="not an image: Pillow cannot identify its content")
            continue
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            yield Prediction(str(path), error=f"cannot decode image: {exc}")
            continue
        probabilities = np.asarray(model(crops, training=False)).mean(axis=0)
        best = np.argsort(-probabilities)[:k]
        yield Prediction(str(path), top=[{"label": labels[i], "prob": round(float(probabilities[i]), 6)}
                                         for i in best])
