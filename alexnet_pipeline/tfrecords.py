"""The shard format: TFRecord files of `tf.train.Example` with encoded image, label and key.

Writer and parser live together so the format is defined in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import tensorflow as tf

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "key": tf.io.FixedLenFeature([], tf.string),
}
SHARD_GLOB = "{split}-*.tfrecord"


def serialize_example(image_jpeg: bytes, label: int, key: str) -> bytes:
    """One record: JPEG bytes, integer class id and the image's relative path."""
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_jpeg])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "key": tf.train.Feature(bytes_list=tf.train.BytesList(value=[key.encode()])),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    # Map fields serialize in hash order unless asked: identical inputs must give identical bytes.
    return example.SerializeToString(deterministic=True)


def _chunks(records: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    """Consecutive lists of `size` records (the last may be shorter)."""
    chunk: list[bytes] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_shards(records: Iterable[bytes], out_dir: Path, split: str, total: int,
                 shard_size: int) -> list[Path]:
    """Write `total` records as `<split>-NNNNN-of-MMMMM.tfrecord`, `shard_size` per file."""
    num_shards = max(1, -(-total // shard_size))
    paths = []
    for index, chunk in enumerate(_chunks(records, shard_size)):
        path = out_dir / f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for record in chunk:
                writer.write(record)
        paths.append(path)
    return paths


def shard_files(processed_dir: Path, split: str) -> list[str]:
    """The shard files of one split, in order."""
    return sorted(str(p) for p in processed_dir.glob(SHARD_GLOB.format(split=split)))
