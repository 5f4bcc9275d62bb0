"""Shards written without TensorFlow: records equal TensorFlow's own serialization, frames
parse with TFRecordDataset, shards appear whole or not at all, bytes never vary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from alexnet_pipeline.config import load_params
from alexnet_pipeline.input.tfrecords import FEATURES, ShardFormat, shard_files
from alexnet_pipeline.shards.shard_format import encode_example, frame, shard_name, write_shard
from tests.helpers import write_params

RECORD = {"image": b"\xff\xd8jpeg-bytes", "label": 7, "key": "test/a/1.jpg", "sha256": "ab" * 32,
              "height": 256, "width": 300}


def test_record_is_byte_identical_to_tensorflows_deterministic_serialization() -> None:
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[RECORD["image"]])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[7])),
        "key": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"test/a/1.jpg"])),
        "sha256": tf.train.Feature(bytes_list=tf.train.BytesList(value=[RECORD["sha256"].encode()])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[256])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[300])),
    }
    expected = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(
        deterministic=True)
    assert encode_example(**RECORD) == expected


@pytest.mark.parametrize("label", [0, 1, 127, 128, 300, 2**40])
def test_labels_of_every_varint_length_parse_back(label: int) -> None:
    parsed = tf.io.parse_single_example(encode_example(**{**RECORD, "label": label}), FEATURES)
    assert int(parsed["label"]) == label and int(parsed["width"]) == 300
    assert parsed["key"].numpy() == b"test/a/1.jpg"


def test_negative_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        encode_example(**{**RECORD, "label": -1})


def test_shard_frames_are_read_by_tensorflow_with_checksums(tmp_path: Path) -> None:
    records = [encode_example(**{**RECORD, "label": i}) for i in range(5)]
    path = write_shard(tmp_path / shard_name("train", 0, 1), iter(records))
    assert path.name == "train-00000-of-00001.tfrecord"
    assert [bytes(r.numpy()) for r in tf.data.TFRecordDataset(str(path))] == records
    corrupted = bytearray(path.read_bytes())
    corrupted[30] ^= 0xFF
    (tmp_path / "bad.tfrecord").write_bytes(bytes(corrupted))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(tmp_path / "bad.tfrecord")))


def test_a_shard_interrupted_while_written_never_takes_the_shards_name(tmp_path: Path) -> None:
    def records():
        yield encode_example(**RECORD)
        raise KeyboardInterrupt  # the run is killed part-way through the shard

    target = tmp_path / shard_name("train", 0, 2)
    with pytest.raises(KeyboardInterrupt):
        write_shard(target, records())
    assert not target.exists()
    assert shard_files(tmp_path, "train") == []  # a partial file is not a shard


def test_frame_layout() -> None:
    framed = frame(b"abc")
    assert framed[:8] == (3).to_bytes(8, "little") and framed[12:15] == b"abc" and len(framed) == 19


# Multi-byte lengths and varints, a non-ASCII key: the cases a hand-written encoder gets wrong.
CROSS_PROCESS_RECORD = (b"\xff\xd8" + bytes(range(256)) * 2, 300, "train/\u00e9t\u00e9/1.jpg", "ab" * 32, 256, 2**33)
TENSORFLOW_WRITER = """
import sys
import tensorflow as tf
image, label, key, sha256, height, width = {record!r}
def feature(value):
    if isinstance(value, int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
example = tf.train.Example(features=tf.train.Features(feature={{
    "image": feature(image), "label": feature(label), "key": feature(key.encode()),
    "sha256": feature(sha256.encode()), "height": feature(height), "width": feature(width)}}))
with tf.io.TFRecordWriter(sys.argv[1]) as writer:
    writer.write(example.SerializeToString(deterministic=True))
"""
ENCODER = ("import sys; from alexnet_pipeline.shards.shard_format import encode_example, frame; "
           "sys.stdout.write(frame(encode_example(*{record!r})).hex())")


def test_bytes_equal_tensorflows_record_writer_in_every_process(tmp_path: Path) -> None:
    """The framed record is what TensorFlow's own Example serialization and TFRecordWriter write
    for the same values (in a process of their own), and every fresh process (each with its own
    hash seed) encodes exactly those bytes, as does this one."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    written = tmp_path / "tensorflow.tfrecord"
    subprocess.run([sys.executable, "-c", TENSORFLOW_WRITER.format(record=CROSS_PROCESS_RECORD), str(written)],
                   capture_output=True, text=True, check=True, env=env)
    expected = written.read_bytes()
    assert len(expected) > 512 + 16  # the whole record was written
    encoded = {bytes.fromhex(subprocess.run([sys.executable, "-c", ENCODER.format(record=CROSS_PROCESS_RECORD)],
                                            capture_output=True, text=True, check=True,
                                            env={**env, "PYTHONHASHSEED": str(seed)}).stdout)
               for seed in range(3)}
    assert encoded == {expected}
    assert frame(encode_example(*CROSS_PROCESS_RECORD)) == expected


def test_shard_files_lists_one_split_in_order(tmp_path: Path) -> None:
    for split, count in (("train", 3), ("test", 1)):
        for index in range(count):
            write_shard(tmp_path / shard_name(split, index, count), [encode_example(**RECORD)])
    (tmp_path / "classes.json").write_text("[]")
    (tmp_path / f".{shard_name('val', 0, 1)}.partial").write_bytes(b"half")
    assert [Path(p).name for p in shard_files(tmp_path, "train")] == [
        f"train-{i:05d}-of-00003.tfrecord" for i in range(3)]
    assert [Path(p).name for p in shard_files(tmp_path, "test")] == ["test-00000-of-00001.tfrecord"]
    assert shard_files(tmp_path, "val") == []


def test_shard_format_from_params_keeps_a_margin_only_for_paper(tmp_path: Path) -> None:
    preprocess = load_params(write_params(tmp_path)).preprocess
    assert ShardFormat.of(preprocess, 227) == ShardFormat("jpeg", 256, 227, 90)
    squash = load_params(write_params(tmp_path, preprocess__resize="squash", preprocess__encoding="raw",
                                      preprocess__jpeg_quality=80)).preprocess
    assert ShardFormat.of(squash, 67) == ShardFormat("raw", 67, 67, 80)


def test_a_shard_formats_default_quality_is_the_shipped_one(tmp_path: Path) -> None:
    shipped = load_params(write_params(tmp_path)).preprocess
    assert ShardFormat("jpeg", 256, 227) == ShardFormat.of(shipped, 227)
