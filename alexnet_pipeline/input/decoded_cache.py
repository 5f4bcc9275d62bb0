"""The train split decoded once and held in memory (`train.cache: memory`, see `cache_budget`).

Every stored square, uint8, in one [N, stored, stored, 3] variable on the CPU (a constant that
size would be baked into the dataset's graph, which cannot pass 2 GB), with the labels and keys.
Row r is the r-th record of the shards read in order, so a record is found by its shard and its
position there: `starts[shard] + position`. The reader orders an epoch's rows exactly as it
orders the records it streams (`reader.make_dataset`), so a cached epoch gives the streamed
epoch's batches. The variable is filled a batch at a time by scatter updates: memory peaks at
the decoded split plus a batch, not at twice the split.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.input.tfrecords import FEATURES, ShardFormat, decode

log = logging.getLogger(__name__)
DECODE_BATCH = 64


@dataclass(frozen=True)
class DecodedCache:
    """The decoded split: `images` [N, stored, stored, 3] uint8, `labels` [N] int64, `keys` [N]
    string, all variables on the CPU; `counts`: records per shard, in the order of the files."""

    images: tf.Variable
    labels: tf.Variable
    keys: tf.Variable
    counts: tuple[int, ...]

    @property
    def size(self) -> int:
        """Images in the cache."""
        return sum(self.counts)

    def rows(self, shard: tf.Tensor) -> tf.data.Dataset:
        """The rows of shard number `shard`'s records, in the order a TFRecordDataset reads them."""
        starts = tf.constant(np.cumsum([0, *self.counts[:-1]]), tf.int64)
        first = tf.gather(starts, shard)  # a range, not a map over one: a map per row costs 20 us an image
        return tf.data.Dataset.range(first, first + tf.gather(tf.constant(self.counts, tf.int64), shard))

    def example(self, row: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(image, label, key) of one row; gathers that row alone, not the whole variable."""
        return tf.gather(self.images, row), tf.gather(self.labels, row), tf.gather(self.keys, row)


def _count_records(files: list[str]) -> int:
    return int(tf.data.TFRecordDataset(files).reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def decode_split(files: list[str], shards: ShardFormat, num_examples: int | None = None) -> DecodedCache:
    """Decode every record of shard `files` (stored squares of `shards.stored_size`) into a
    `DecodedCache`; `num_examples`, when given, is checked (else the records are counted first)."""
    start = time.perf_counter()
    size, stored = num_examples if num_examples is not None else _count_records(files), shards.stored_size

    def parse(shard: tf.Tensor, record: tf.Tensor) -> tuple[tf.Tensor, ...]:
        example = tf.io.parse_single_example(record, FEATURES)
        image = decode(example["image"], example["height"], example["width"], shards.encoding)
        return shard, tf.ensure_shape(image, (stored, stored, 3)), example["label"], example["key"]

    indexed = tf.data.Dataset.from_tensor_slices((tf.range(len(files), dtype=tf.int64), files)).flat_map(
        lambda shard, file: tf.data.TFRecordDataset(file).map(lambda record: (shard, record)))
    batches = indexed.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(DECODE_BATCH)
    with tf.device("/CPU:0"):
        images = tf.Variable(tf.zeros([size, stored, stored, 3], tf.uint8), trainable=False, name="decoded_images")
    counts, labels, keys, row = np.zeros(len(files), np.int64), [], [], 0
    for shard, batch, label, key in batches.prefetch(1):
        if row + len(batch) > size:
            raise PipelineError(f"the train shards hold more than the {size} images counted for them")
        images.scatter_update(tf.IndexedSlices(batch, tf.range(row, row + len(batch), dtype=tf.int64)))
        counts += np.bincount(shard.numpy(), minlength=len(files))
        labels.append(label.numpy())
        keys.append(key.numpy())
        row += len(batch)
    if row != size:
        raise PipelineError(f"the train shards hold {row} images, not the {size} counted for them")
    with tf.device("/CPU:0"):
        cache = DecodedCache(images, tf.Variable(np.concatenate(labels) if labels else np.zeros(0, np.int64),
                                                 trainable=False, name="decoded_labels"),
                             tf.Variable(np.concatenate(keys) if keys else np.zeros(0, object),
                                         dtype=tf.string, trainable=False, name="decoded_keys"),
                             tuple(int(count) for count in counts))
    log.info("decoded the %d train images into memory (%.2f GiB) in %.1f s", size,
             size * stored * stored * 3 / 2 ** 30, time.perf_counter() - start)
    return cache
