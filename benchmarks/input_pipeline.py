"""Throughput of the shard reader against Keras' `image_dataset_from_directory`, and against
what training consumes on this machine.

Usage: python benchmarks/input_pipeline.py [DATASET] [--copies N]
(default ../shared/datasets/cats_vs_dogs_small; with --copies 25, the feeding figures are also
measured on 25 hard-linked copies of the train split: 25,000 images, a 4.9 GB cache)

Both pipelines deliver the same thing: shuffled batches of 64 train images at 227 px, uint8,
with the paper's input-side augmentation (a random 227 crop of a 256 square, a horizontal flip);
the paper's PCA lighting is a layer of the model (it runs on the accelerator), so it is part of
the training step for both. Two baselines decode and resize every JPEG to 256 each epoch:
- `baseline_keras` augments as Keras users do, with `keras.layers.RandomCrop` and `RandomFlip`
  per image (float32 out, as Keras gives it);
- `baseline_strict` applies this project's own uint8 crop-and-flip function instead, so only the
  decoding differs from the reader.
The reader streams preprocessed shards (JPEG and raw). The training step's images/s is one
AlexNet step at 227 px on this CPU, lighting included. Goals: reader / baseline >= 3, and
the reader faster than training.

How many cores feed a GPU: the training stream as the train stage reads JPEG shards (batches of
256), streamed (each epoch decodes only its crops) and cached (`train.cache`: the split decoded
once, then cropped and flipped from memory), each on one core (the process pinned to it) for its
images/s, and its CPU milliseconds per image from getrusage (this process's user + system time,
which other load on the machine leaves nearly unchanged), hence the cores that 22,000 images/s
(AlexNet on one H200 in fp16) would take. Goals: cached <= 0.1 CPU-ms per image, streamed <= 0.4.
`streamed` reads shards at the shipped `preprocess.jpeg_quality` (params.yaml); `streamed_q95` and
`streamed_q85` read shards written at 95 and 85 instead: decoding is most of the streamed cost,
and it grows and shrinks with the JPEG's size.

The last line is one JSON object with the figures (`ratio`: the better encoding against
`baseline_keras`; `ratio_strict` against `baseline_strict`; `streamed_jpeg_quality`: the quality
the `streamed` rows read, params.yaml's).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import keras
import pandas as pd
import tensorflow as tf

from alexnet_pipeline.input import crops
from alexnet_pipeline.input.decoded_cache import decode_split
from alexnet_pipeline.input.reader import make_dataset, steps_per_epoch
from alexnet_pipeline.input.tfrecords import ShardFormat, shard_files
from alexnet_pipeline.sources.layout import find_images
from alexnet_pipeline.training.lighting import PCALighting
from alexnet_pipeline.training.model import build_alexnet
from alexnet_pipeline.validation.manifest import build_manifest
from benchmarks.preprocess import DEFAULT, _config, canonical_copy, linked_copies
from stages.preprocess import preprocess

IMAGE_SIZE, STORED, BATCH, EPOCHS = 227, 256, 64, 3
GPU_BATCH, GPU_IMAGES_S = 256, 22_000  # what one H200 trains AlexNet at in fp16
GOALS_CPU_MS = {"streamed": 0.4, "cached": 0.1}
OTHER_QUALITIES = (95, 85)  # streamed again from shards at these JPEG qualities (the shipped one: params.yaml's)


def images_per_second(dataset: tf.data.Dataset) -> float:
    """Images/s over EPOCHS passes, after one warm-up pass (caches, thread pools)."""
    for _ in dataset:
        pass
    start, count = time.perf_counter(), 0
    for _ in range(EPOCHS):
        for images, _ in dataset:
            count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def cpu_seconds() -> float:
    """User + system CPU time of this process (every TensorFlow thread) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_core_cost(processed: Path, cached: bool) -> dict[str, float]:
    """The train stage's stream of `processed`'s train shards in batches of GPU_BATCH, on one
    core: images/s, CPU-ms per image, and the cores GPU_IMAGES_S would take; with `cached`, read
    from the split decoded once (its building timed apart, as the first epoch pays it)."""
    files, shards = shard_files(processed, "train"), ShardFormat("jpeg", STORED, IMAGE_SIZE)
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        start = time.perf_counter()
        cache = decode_split(files, shards) if cached else None
        build_s = time.perf_counter() - start
        dataset = make_dataset(files, shards, GPU_BATCH, training=True, seed=42, epochs=(0, EPOCHS + 1),
                               cache=cache)
        images = sum(json.loads((processed / "splits.json").read_text())["train"].values())
        batches = iter(dataset)
        for _ in range(steps_per_epoch(images, GPU_BATCH)):  # the first epoch warms the thread pools up
            next(batches)
        count, before, start = 0, cpu_seconds(), time.perf_counter()
        for images_batch, _ in batches:
            count += int(images_batch.shape[0])
        wall, cpu = time.perf_counter() - start, cpu_seconds() - before
    finally:
        os.sched_setaffinity(0, cores)
    cpu_ms = cpu * 1000 / count
    return {"one_core_img_s": count / wall, "cpu_ms": cpu_ms, "cores_for_22k": GPU_IMAGES_S * cpu_ms / 1000,
            "cache_build_s": build_s}


def _directory_images(train_dir: Path) -> tf.data.Dataset:
    return keras.utils.image_dataset_from_directory(
        train_dir, image_size=(STORED, STORED), batch_size=None, shuffle=True, seed=42, verbose=False)


def baseline_keras(train_dir: Path) -> float:
    augment = keras.Sequential([keras.layers.RandomCrop(IMAGE_SIZE, IMAGE_SIZE, seed=1),
                                keras.layers.RandomFlip("horizontal", seed=2)])
    dataset = _directory_images(train_dir).map(lambda image, label: (augment(image, training=True), label),
                                                num_parallel_calls=tf.data.AUTOTUNE)
    return images_per_second(dataset.batch(BATCH).prefetch(tf.data.AUTOTUNE))


def baseline_strict(train_dir: Path) -> float:
    @tf.autograph.experimental.do_not_convert  # plain ops; as a lambda, AutoGraph once converted it wrong (1 run in 3)
    def crop(pair: tuple[tf.Tensor, tf.Tensor], seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.cast(pair[0], tf.uint8)  # as the reader crops an image alone in its batch
        shape = tf.shape(image)
        tops, lefts, flips = crops.draw_windows(seed, shape[:1], shape[1:2], IMAGE_SIZE, flip=True)
        return crops.cut(image, tops[0], lefts[0], IMAGE_SIZE, flips[0]), pair[1]

    crop_seeds = tf.data.Dataset.random(seed=42).batch(2, drop_remainder=True)
    dataset = tf.data.Dataset.zip(_directory_images(train_dir), crop_seeds).map(
        crop, num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH)
    return images_per_second(dataset.prefetch(tf.data.AUTOTUNE))


def reader(processed: Path, encoding: str) -> float:
    files = shard_files(processed, "train")
    return images_per_second(make_dataset(files, ShardFormat(encoding, STORED, IMAGE_SIZE), BATCH,
                                          training=True, seed=42, flip=True))


def training_step(num_classes: int, stats: dict) -> float:
    lighting = PCALighting(0.1, stats["eigenvalues"], stats["eigenvectors"], seed=0)
    model = build_alexnet(num_classes, IMAGE_SIZE, variant="bn", seed=0, channel_mean=stats["mean"],
                          channel_std=stats["std"], augment=[lighting])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = tf.cast(tf.random.uniform((BATCH, IMAGE_SIZE, IMAGE_SIZE, 3), 0, 255), tf.uint8)
    labels = tf.zeros((BATCH,), tf.int64)
    model.train_on_batch(images, labels)  # builds and compiles the step
    start = time.perf_counter()
    for _ in range(3):
        model.train_on_batch(images, labels)
    return 3 * BATCH / (time.perf_counter() - start)


def _shards(train: pd.DataFrame, raw: Path, out: Path, **settings) -> Path:
    """`train` preprocessed into shards in `out` as the stage writes them, with `settings`."""
    out.mkdir()
    cfg = _config(2)
    preprocess(train, raw, out, type(cfg)(**{**cfg.__dict__, "val_fraction": 0.01, **settings}), IMAGE_SIZE, seed=42)
    return out


def _train_copies(raw: Path, copies: int, work: Path) -> tuple[Path, pd.DataFrame]:
    """`copies` hard links of every train image under new names, and their manifest."""
    data = linked_copies(raw, [path for path in (raw / "train").rglob("*") if path.is_file()], copies,
                         work / f"train_x{copies}")
    return data, build_manifest(find_images(data), data, workers=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--copies", type=int, default=1, help="also measure feeding on this many copies of train")
    args = parser.parse_args()
    source = args.dataset
    if not source.is_dir():
        sys.exit(f"{source}: dataset folder not found")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        raw, manifest = canonical_copy(source, work)
        train = manifest[manifest["split"] == "train"]
        figures = {}
        for encoding in ("jpeg", "raw"):
            out = _shards(train, raw, work / f"shards_{encoding}", encoding=encoding)
            stats = json.loads((out / "stats.json").read_text())
            figures[f"reader_{encoding}_img_s"] = reader(out, encoding)
            if encoding == "jpeg":
                costs = {mode: one_core_cost(out, mode == "cached") for mode in ("streamed", "cached")}
        for quality in OTHER_QUALITIES:
            other = _shards(train, raw, work / f"shards_q{quality}", encoding="jpeg", jpeg_quality=quality)
            costs[f"streamed_q{quality}"] = one_core_cost(other, cached=False)
        if args.copies > 1:
            many_raw, many = _train_copies(raw, args.copies, work)
            larger = _shards(many, many_raw, work / "shards_many", encoding="jpeg")
            for mode in ("streamed", "cached"):
                costs[f"{mode}_x{args.copies}"] = one_core_cost(larger, mode == "cached")
        figures["baseline_keras_img_s"] = baseline_keras(raw / "train")
        figures["baseline_strict_img_s"] = baseline_strict(raw / "train")
        figures["training_step_img_s"] = training_step(int(train["label"].nunique()), stats)
    figures = {name: round(value, 1) for name, value in figures.items()}
    feeding = {f"{mode}_{name}": round(value, 3 if name in ("cpu_ms", "cache_build_s") else 1)
               for mode, cost in costs.items() for name, value in cost.items()
               if mode.startswith("cached") or name != "cache_build_s"}
    best = max(figures["reader_jpeg_img_s"], figures["reader_raw_img_s"])
    ratio = best / figures["baseline_keras_img_s"]
    strict = best / figures["baseline_strict_img_s"]
    print(f"{len(train)} train images from {source}: batches of {BATCH} at {IMAGE_SIZE} px, random crops and flips, uint8")
    print(f"{'pipeline':<30}{'images/s':>10}")
    for name, value in figures.items():
        print(f"{name.removesuffix('_img_s'):<30}{value:>10.1f}")
    print(f"ratio best reader / baseline_keras: {ratio:.2f} (goal >= 3); / baseline_strict: {strict:.2f}; "
          f"reader / training step: "
          f"{best / figures['training_step_img_s']:.1f}x (goal > 1)")
    shipped_quality = _config(2).jpeg_quality
    print(f"\nfeeding a GPU: the train stream of JPEG shards (streamed: at the shipped quality "
          f"{shipped_quality}), batches of {GPU_BATCH}, one core")
    print(f"{'reading':<14}{'images/s':>10}{'CPU-ms/image':>14}{'goal':>8}{'cores for 22k/s':>17}")
    for mode in costs:
        print(f"{mode:<14}{feeding[mode + '_one_core_img_s']:>10.1f}{feeding[mode + '_cpu_ms']:>14.3f}"
              f"{GOALS_CPU_MS[mode.split('_')[0]]:>8}{feeding[mode + '_cores_for_22k']:>17.1f}")
    print("(the cache took " + ", ".join(f"{feeding[mode + '_cache_build_s']:.2f} s ({mode})" for mode in costs
                                          if mode.startswith("cached")) + " to build)")
    print(json.dumps({"ratio": round(ratio, 2), "ratio_strict": round(strict, 2),
                      "streamed_jpeg_quality": shipped_quality, **feeding,
                      "ratio_jpeg": round(figures["reader_jpeg_img_s"] / figures["baseline_keras_img_s"], 2),
                      "reader_over_training": round(best / figures["training_step_img_s"], 1), **figures}))


if __name__ == "__main__":
    main()
