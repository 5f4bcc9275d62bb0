"""Training throughput of the train stage's step against a plain Keras AlexNet fed from NumPy.

Usage:
  python benchmarks/train_throughput.py [DATASET]   (default ../shared/datasets/cats_vs_dogs_small)
  KERAS_BACKEND=jax python benchmarks/train_throughput.py --model-only   (a GPU box without TensorFlow)

Figures, same batch (64) and same run:
- `ours`: the model the train stage builds (shipped params: variant, init, PCA lighting,
  input normalization, optimizer) fit on the preprocessed shards through the reader (random crops
  and flips on);
- `plain`: the same layers as a `keras.Sequential` fit on an in-memory float32 NumPy array of
  the same photos (centre crops), with no input pipeline at all.
Each is measured REPEATS times, alternating, after a warm-up; the figure is the fastest run (on
this machine a run of either lands at about 31 or about 40 images/s, whichever the model: the
fastest of several is what each can do). Goal:
ours / plain >= 0.95. `--model-only` measures `plain` on random data with and without mixed
precision (fp16), for a GPU. The last line is one JSON object with the figures (`ratio` first).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SIZE, BATCH, STEPS, REPEATS = 227, 64, 10, 4


def plain_alexnet(num_classes: int) -> keras.Model:
    """The `bn` AlexNet as a bare Sequential: no normalization layer, no augmentation."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
        layers.Rescaling(1 / 127.5, offset=-1),
        layers.Conv2D(96, 11, strides=4, activation="relu"), layers.BatchNormalization(),
        layers.MaxPooling2D(3, 2),
        layers.Conv2D(256, 5, padding="same", activation="relu"), layers.BatchNormalization(),
        layers.MaxPooling2D(3, 2),
        layers.Conv2D(384, 3, padding="same", activation="relu"),
        layers.Conv2D(384, 3, padding="same", activation="relu"),
        layers.Conv2D(256, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(3, 2), layers.Flatten(),
        layers.Dense(4096, activation="relu"), layers.Dropout(0.5),
        layers.Dense(4096, activation="relu"), layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ])


def images_per_second(model: keras.Model, fit_input: dict) -> float:
    """Images/s of `STEPS` training steps, after one warm-up epoch that traces the step."""
    model.fit(**fit_input, epochs=1, steps_per_epoch=2, verbose=0)
    start = time.perf_counter()
    model.fit(**fit_input, epochs=1, steps_per_epoch=STEPS, verbose=0)
    return STEPS * BATCH / (time.perf_counter() - start)


def plain_figure(images: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    model = plain_alexnet(num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy",
                  jit_compile=False)  # as the train stage compiles (XLA is off with op determinism)
    repeats = -(-(STEPS * BATCH) // len(images))  # NumPy input: enough rows for every step
    return images_per_second(model, {"x": np.concatenate([images] * repeats),
                                     "y": np.concatenate([labels] * repeats), "batch_size": BATCH})


def model_only() -> dict[str, float]:
    """`plain` on random images, float32 and mixed float16 (for a GPU machine without TF)."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (STEPS * BATCH, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    labels = rng.integers(0, 2, len(images))
    figures = {"backend": keras.backend.backend()}
    for policy in ("float32", "mixed_float16"):
        keras.mixed_precision.set_global_policy(policy)
        figures[f"plain_{policy}_img_s"] = round(plain_figure(images, labels, 2), 1)
    keras.mixed_precision.set_global_policy("float32")
    return figures


def centre_crops(raw: Path, paths: list[str]) -> np.ndarray:
    """The photos as the reader's evaluation path gives them: paper-resized, centre 227 crop."""
    from alexnet_pipeline.images import prepare_image

    margin = (256 - IMAGE_SIZE) // 2
    return np.stack([np.asarray(prepare_image(raw / p, IMAGE_SIZE, "paper"))[margin:margin + IMAGE_SIZE,
                                                                             margin:margin + IMAGE_SIZE]
                     for p in paths]).astype(np.float32)


def main() -> None:
    if "--model-only" in sys.argv:
        figures = model_only()
        print(f"{'model':<28}{'images/s':>10}   ({figures['backend']})")
        for name in ("plain_float32_img_s", "plain_mixed_float16_img_s"):
            print(f"{name.removesuffix('_img_s'):<28}{figures[name]:>10.1f}")
        ratio = figures["plain_mixed_float16_img_s"] / figures["plain_float32_img_s"]
        print(json.dumps({"ratio": round(ratio, 2), **figures}))
        return

    import dataclasses

    import yaml

    from alexnet_pipeline.config import params_from_dict
    from alexnet_pipeline.reader import make_dataset
    from alexnet_pipeline.tfrecords import ShardFormat, shard_files
    from benchmarks.preprocess import _config, canonical_copy, dataset_argument
    from stages.preprocess import preprocess
    from stages.train import build_model

    source = dataset_argument()
    params = params_from_dict(yaml.safe_load((ROOT / "params.yaml").read_text()))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        raw, manifest = canonical_copy(source, work)
        train = manifest[manifest["split"] == "train"]
        processed = work / "processed"
        processed.mkdir()
        preprocess(train, raw, processed, dataclasses.replace(_config(2), val_fraction=0.01), IMAGE_SIZE, seed=42)
        stats = json.loads((processed / "stats.json").read_text())
        num_classes = int(train["label"].nunique())
        dataset = make_dataset(shard_files(processed, "train"), ShardFormat.read(processed), BATCH,
                               training=True, seed=42).repeat()
        sample = train.head(4 * BATCH)
        images = centre_crops(raw, list(sample["path"]))
        labels = sample["label"].astype("category").cat.codes.to_numpy()
        cfg = dataclasses.replace(params.train, batch_size=BATCH)
        figures = {"ours_img_s": 0.0, "plain_img_s": 0.0}
        for _ in range(REPEATS):
            keras.utils.set_random_seed(0)
            ours = build_model(cfg, params.model, params.base, num_classes, stats)
            figures["ours_img_s"] = max(figures["ours_img_s"], images_per_second(ours, {"x": dataset}))
            figures["plain_img_s"] = max(figures["plain_img_s"], plain_figure(images, labels, num_classes))
    figures = {name: round(value, 1) for name, value in figures.items()}
    ratio = figures["ours_img_s"] / figures["plain_img_s"]
    print(f"{len(train)} train images from {source}: batch {BATCH}, {IMAGE_SIZE} px, {STEPS} steps, "
          f"model variant {params.model.variant}")
    print(f"{'training step':<44}{'images/s':>10}")
    print(f"{'ours (shards, reader, augmentation, lighting)':<44}{figures['ours_img_s']:>10.1f}")
    print(f"{'plain Sequential from NumPy':<44}{figures['plain_img_s']:>10.1f}")
    print(f"ratio ours / plain: {ratio:.2f} (goal >= 0.95)")
    print(json.dumps({"ratio": round(ratio, 2), **figures}))


if __name__ == "__main__":
    main()
