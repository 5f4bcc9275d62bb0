"""Reading the shards with TensorFlow: the parse spec, decoding, and the shard files of a split.

`shard_format.py` writes them (without TensorFlow); `shards.json` says how images are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from alexnet_pipeline.config import PreprocessConfig
from alexnet_pipeline.core.artifacts import SHARDS_FILE
from alexnet_pipeline.core.contracts import ShardLayout, read_contract
from alexnet_pipeline.shards.images import stored_size

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "key": tf.io.FixedLenFeature([], tf.string),
    "sha256": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
}
SHARD_GLOB = "{split}-*.tfrecord"


@dataclass(frozen=True)
class ShardFormat:
    """How shards store images: `jpeg` or `raw` uint8 squares of `stored_size`, from which the
    network's `image_size` input is cropped (they differ only for the `paper` resize policy)."""

    encoding: str
    stored_size: int
    image_size: int
    jpeg_quality: int = 90  # as params.yaml ships

    @classmethod
    def of(cls, cfg: PreprocessConfig, image_size: int) -> ShardFormat:
        return cls(cfg.encoding, stored_size(cfg.resize, image_size), image_size, cfg.jpeg_quality)

    @classmethod
    def read(cls, processed_dir: Path) -> ShardFormat:
        info = read_contract(ShardLayout, processed_dir / SHARDS_FILE)
        return cls(info.encoding, info.stored_size, info.image_size, info.jpeg_quality)


def shard_files(processed_dir: Path, split: str) -> list[str]:
    """The shard files of one split, in order."""
    return sorted(str(p) for p in processed_dir.glob(SHARD_GLOB.format(split=split)))


def decode(image: tf.Tensor, height: tf.Tensor, width: tf.Tensor, encoding: str) -> tf.Tensor:
    """Stored image bytes to a uint8 height x width x 3 tensor."""
    if encoding == "raw":
        return tf.reshape(tf.io.decode_raw(image, tf.uint8), tf.stack([height, width, 3]))
    return tf.io.decode_jpeg(image, channels=3)
