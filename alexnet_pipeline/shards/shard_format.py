"""Writing TFRecord shards without TensorFlow: `tf.train.Example` protos and TFRecord framing.

The preprocess stage runs in worker processes that must start fast and fork safely, so it
does not import TensorFlow. Records are encoded here by hand, byte-identical to TensorFlow's
`Example.SerializeToString(deterministic=True)` (a test checks this), and framed as TFRecord:
length, masked CRC-32C of the length, data, masked CRC-32C of the data. TensorFlow reads them
back (`tfrecords.py`, `reader.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import google_crc32c

IMAGE, LABEL, KEY, SHA256, HEIGHT, WIDTH = "image", "label", "key", "sha256", "height", "width"
SHARD_NAME = "{split}-{index:05d}-of-{count:05d}.tfrecord"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _bytes_feature(value: bytes) -> bytes:
    return _field(1, _field(1, value))  # Feature.bytes_list = BytesList{value: [value]}


def _int64_feature(value: int) -> bytes:
    if value < 0:
        raise ValueError("only non-negative integers are stored")
    return _field(3, _field(1, _varint(value)))  # Feature.int64_list, packed


def encode_example(image: bytes, label: int, key: str, sha256: str, height: int, width: int) -> bytes:
    """A serialized `tf.train.Example`: image bytes, class id, relative path, content hash, size."""
    features = {IMAGE: _bytes_feature(image), LABEL: _int64_feature(label),
                KEY: _bytes_feature(key.encode()), SHA256: _bytes_feature(sha256.encode()),
                HEIGHT: _int64_feature(height), WIDTH: _int64_feature(width)}
    entries = b"".join(_field(1, _field(1, name.encode()) + _field(2, feature))
                       for name, feature in sorted(features.items()))  # map entries, key order
    return _field(1, entries)  # Example.features


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return (((crc >> 15 | crc << 17) + 0xA282EAD8) & 0xFFFFFFFF).to_bytes(4, "little")


def frame(record: bytes) -> bytes:
    """One TFRecord: the record with its length and checksums."""
    length = len(record).to_bytes(8, "little")
    return length + _masked_crc(length) + record + _masked_crc(record)


def write_shard(path: Path, records: Iterable[bytes]) -> Path:
    """Write one shard atomically: a temporary name, then a rename, so that a killed run
    never leaves a file under a shard's name that holds only part of it."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as sink:
        for record in records:
            sink.write(frame(record))
    os.replace(partial, path)
    return path


def shard_name(split: str, index: int, count: int) -> str:
    return SHARD_NAME.format(split=split, index=index, count=count)
