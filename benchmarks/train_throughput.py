"""Training throughput of the train stage's own step, in float32 against bfloat16.

Usage:
  python benchmarks/train_throughput.py [DATASET] [--rounds N]   (default ../shared/datasets/cats_vs_dogs_small)
  python benchmarks/train_throughput.py [DATASET] --vs-plain
  KERAS_BACKEND=jax python benchmarks/train_throughput.py --model-only [--batch N]   (a GPU box without TensorFlow)
  KERAS_BACKEND=jax python benchmarks/train_throughput.py --model-only --device-crops [--batch N]

Default: the model the train stage builds (shipped params: variant, init, PCA lighting, input
normalization, optimizer, batch size) fit on the preprocessed shards through the reader (random
crops and flips on), with the `float32` policy and with `mixed_bfloat16`, alternating within each
round (at least 5 rounds), after a warm-up that traces the step. This machine is noisy, so the
table gives each round and the best and median of each. Goal: bf16 >= 1.8x float32 on a CPU with
AVX-512 BF16 or AMX.
`--vs-plain`: the train stage's step against the same layers as a `keras.Sequential` fit on an
in-memory NumPy array of the same photos (no input pipeline at all), fastest of 4 each; goal
ours / plain >= 0.95.
`--optimizer-only`: one update of AlexNet's 58M weights (2 classes) by Keras' Adam against the
fused Adam the train stage uses, seconds per step, best of 10 each.
`--model-only`: that plain Sequential on random uint8 images in float32, mixed float16 and mixed
bfloat16 (the step XLA-compiled), for a GPU machine without TensorFlow. With `--device-crops`,
fed as a host cache feeds it: uint8 256x256 images from host memory, the random 227 crop and the
flip done on the device by the model's first layers, in mixed float16 and mixed bfloat16; each
figure also as the share of the chip's peak (`--peak-tflops`, an H200's 790 by default) that
AlexNet's FLOPs at that rate are (FORWARD_GFLOP an image forward, three times that a training
step). Goal: 40,000 images/s.
The last line printed is one JSON object with the figures (the headline `ratio` first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "cats_vs_dogs_small"
IMAGE_SIZE, STORED, STEPS = 227, 256, 10
POLICIES = ("float32", "mixed_bfloat16")
# AlexNet's forward pass, in GFLOP an image, as issue 29 counts it; a training step (forward,
# and the backward pass's two products per layer) is about three times that
FORWARD_GFLOP, STEP_OVER_FORWARD = 0.72, 3
DEVICE_CROPS_GOAL_IMG_S = 40_000


def plain_alexnet(num_classes: int, device_crops: bool = False) -> keras.Model:
    """The `bn` AlexNet as a bare Sequential: no normalization layer, no augmentation; with
    `device_crops`, it takes STORED-px images and crops and flips them itself, on the device."""
    layers = keras.layers
    augment = [layers.RandomCrop(IMAGE_SIZE, IMAGE_SIZE, seed=1), layers.RandomFlip("horizontal", seed=2)]
    return keras.Sequential([
        keras.Input((STORED, STORED, 3) if device_crops else (IMAGE_SIZE, IMAGE_SIZE, 3)),
        *(augment if device_crops else []),
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


def images_per_second(model: keras.Model, fit_input: dict, batch: int, steps: int = STEPS) -> float:
    """Images/s of `steps` training steps, after one warm-up epoch that traces the step."""
    model.fit(**fit_input, epochs=1, steps_per_epoch=2, verbose=0)
    start = time.perf_counter()
    model.fit(**fit_input, epochs=1, steps_per_epoch=steps, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def plain_figure(images: np.ndarray, labels: np.ndarray, num_classes: int, batch: int,
                 jit_compile: bool | str = False, steps: int = STEPS, device_crops: bool = False) -> float:
    """The plain Sequential's images/s on `images` (repeated so that every step has a batch).
    Without XLA by default, as the train stage compiles (XLA is off with op determinism)."""
    model = plain_alexnet(num_classes, device_crops)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy",
                  jit_compile=jit_compile)
    repeats = -(-(steps * batch) // len(images))
    return images_per_second(model, {"x": np.concatenate([images] * repeats),
                                     "y": np.concatenate([labels] * repeats), "batch_size": batch},
                             batch, steps)


def model_only(batch: int, rounds: int, device_crops: bool = False, steps: int = 20) -> dict:
    """The plain Sequential on random uint8 images in each precision, XLA-compiled (JAX needs it:
    without it every op runs eagerly). The best of `rounds` runs each, alternating. With
    `device_crops`, STORED-px images that the model crops and flips, in the mixed policies only."""
    rng = np.random.default_rng(0)
    side = STORED if device_crops else IMAGE_SIZE
    images = rng.integers(0, 256, (4 * batch, side, side, 3), dtype=np.uint8)
    labels = rng.integers(0, 1000, len(images))
    figures = {"backend": keras.backend.backend(), "batch": batch, "device_crops": device_crops}
    policies = ("mixed_float16", "mixed_bfloat16") if device_crops else ("float32", "mixed_float16", "mixed_bfloat16")
    for _ in range(rounds):
        for policy in policies:
            keras.mixed_precision.set_global_policy(policy)
            speed = plain_figure(images, labels, 1000, batch, jit_compile=True, steps=steps,
                                 device_crops=device_crops)
            figures[policy] = round(max(figures.get(policy, 0.0), speed), 1)
    keras.mixed_precision.set_global_policy("float32")
    return figures


def peak_share(images_per_s: float, peak_tflops: float) -> float:
    """The share of a chip's `peak_tflops` that training AlexNet at `images_per_s` computes."""
    return images_per_s * FORWARD_GFLOP * STEP_OVER_FORWARD * 1e9 / (peak_tflops * 1e12)


def optimizer_step_seconds() -> dict:
    """Seconds per update of AlexNet-shaped float32 weights: Keras' Adam against FusedAdam."""
    import tensorflow as tf

    from alexnet_pipeline.training.fused_optimizers import FusedAdam
    from alexnet_pipeline.training.model import build_alexnet

    weights = build_alexnet(2, variant="bn").trainable_variables
    gradients = [tf.fill(w.shape, 1e-3) for w in weights]
    figures = {"weights": sum(int(np.prod(w.shape)) for w in weights)}
    for name, optimizer in (("keras_adam_s", keras.optimizers.Adam(1e-4)), ("fused_adam_s", FusedAdam(1e-4))):
        update = tf.function(lambda opt=optimizer: opt.apply(gradients, weights))
        update()
        times = []
        for _ in range(10):
            start = time.perf_counter()
            update()
            times.append(time.perf_counter() - start)
        figures[name] = round(min(times), 4)
    return figures


def centre_crops(raw: Path, paths: list[str]) -> np.ndarray:
    """The photos as the reader's evaluation path gives them: paper-resized, centre 227 crop."""
    from alexnet_pipeline.shards.images import prepare_image

    margin = (256 - IMAGE_SIZE) // 2
    return np.stack([np.asarray(prepare_image(raw / p, IMAGE_SIZE, "paper"))[margin:margin + IMAGE_SIZE,
                                                                             margin:margin + IMAGE_SIZE]
                     for p in paths]).astype(np.float32)


def prepared_dataset(source: Path, work: Path):
    """The train photos of `source` as the preprocess stage shards them (1% to val), with the
    shipped params: (params, train manifest, raw folder, shards folder, stats)."""

    import yaml

    from alexnet_pipeline.config import params_from_dict
    from benchmarks.preprocess import _config, canonical_copy
    from stages.preprocess import preprocess

    params = params_from_dict(yaml.safe_load((ROOT / "params.yaml").read_text()))
    raw, manifest = canonical_copy(source, work)
    train = manifest[manifest["split"] == "train"]
    processed = work / "processed"
    processed.mkdir()
    preprocess(train, raw, processed, _config(2).model_copy(update={"val_fraction": 0.01}), IMAGE_SIZE, seed=42)
    return params, train, raw, processed, json.loads((processed / "stats.json").read_text())


def stage_step(params, processed: Path, stats: dict, num_classes: int, batch: int):
    """A fresh model as the train stage builds it, under the current global policy, and its
    training data as the reader streams it."""

    import tensorflow as tf

    from alexnet_pipeline.input.reader import make_dataset
    from alexnet_pipeline.input.tfrecords import ShardFormat, shard_files
    from alexnet_pipeline.training.fitting import build_model

    tf.random.set_seed(None)  # the reader's seeded shuffles are built without a global seed, as in the stage
    dataset = make_dataset(shard_files(processed, "train"), ShardFormat.read(processed), batch,
                           training=True, seed=42).repeat()
    keras.utils.set_random_seed(0)
    model = build_model(params.train.model_copy(update={"batch_size": batch}), params.model, params.base,
                        num_classes, stats)
    return model, {"x": dataset}


def precision_rounds(source: Path, rounds: int, batch: int | None) -> dict:
    """float32 and mixed_bfloat16 images/s of the train stage's step, alternating, per round."""
    with tempfile.TemporaryDirectory() as scratch:
        params, train, _, processed, stats = prepared_dataset(source, Path(scratch))
        batch = batch or params.train.batch_size
        num_classes = int(train["label"].nunique())
        speeds: dict[str, list[float]] = {policy: [] for policy in POLICIES}
        for round_index in range(rounds):
            for policy in POLICIES if round_index % 2 == 0 else POLICIES[::-1]:
                keras.mixed_precision.set_global_policy(policy)
                model, fit_input = stage_step(params, processed, stats, num_classes, batch)
                speeds[policy].append(round(images_per_second(model, fit_input, batch), 1))
        keras.mixed_precision.set_global_policy("float32")
    print(f"{len(train)} train images from {source}: batch {batch}, {IMAGE_SIZE} px, {STEPS} steps per run, "
          f"model variant {params.model.variant}, {rounds} rounds (order alternates)")
    print(f"{'round':<8}{'float32 img/s':>16}{'bf16 img/s':>14}{'bf16 / fp32':>14}")
    for index, (fp32, bf16) in enumerate(zip(speeds["float32"], speeds["mixed_bfloat16"], strict=True), 1):
        print(f"{index:<8}{fp32:>16.1f}{bf16:>14.1f}{bf16 / fp32:>14.2f}")
    summary = {name: {"best": max(values), "median": statistics.median(values)} for name, values in speeds.items()}
    for figure in ("best", "median"):
        fp32, bf16 = summary["float32"][figure], summary["mixed_bfloat16"][figure]
        print(f"{figure:<8}{fp32:>16.1f}{bf16:>14.1f}{bf16 / fp32:>14.2f}")
    ratio = summary["mixed_bfloat16"]["best"] / summary["float32"]["best"]
    print(f"bf16 / float32, best of each: {ratio:.2f} (goal >= 1.8 on a CPU with AVX-512 BF16 or AMX)")
    return {"ratio": round(ratio, 2),
            "median_ratio": round(summary["mixed_bfloat16"]["median"] / summary["float32"]["median"], 2),
            "batch": batch, "rounds": speeds}


def versus_plain(source: Path) -> dict:
    """The train stage's float32 step against the plain Sequential on NumPy, fastest of 4 each."""
    batch = 64
    with tempfile.TemporaryDirectory() as scratch:
        params, train, raw, processed, stats = prepared_dataset(source, Path(scratch))
        num_classes = int(train["label"].nunique())
        sample = train.head(4 * batch)
        images = centre_crops(raw, list(sample["path"]))
        labels = sample["label"].astype("category").cat.codes.to_numpy()
        figures = {"ours_img_s": 0.0, "plain_img_s": 0.0}
        for _ in range(4):
            model, fit_input = stage_step(params, processed, stats, num_classes, batch)
            figures["ours_img_s"] = max(figures["ours_img_s"], images_per_second(model, fit_input, batch))
            figures["plain_img_s"] = max(figures["plain_img_s"], plain_figure(images, labels, num_classes, batch))
    figures = {name: round(value, 1) for name, value in figures.items()}
    ratio = figures["ours_img_s"] / figures["plain_img_s"]
    print(f"{len(train)} train images from {source}: batch {batch}, {IMAGE_SIZE} px, {STEPS} steps")
    print(f"{'training step':<44}{'images/s':>10}")
    print(f"{'ours (shards, reader, augmentation, lighting)':<44}{figures['ours_img_s']:>10.1f}")
    print(f"{'plain Sequential from NumPy':<44}{figures['plain_img_s']:>10.1f}")
    print(f"ratio ours / plain: {ratio:.2f} (goal >= 0.95)")
    return {"ratio": round(ratio, 2), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, help="default: train.batch_size (256 with --model-only)")
    parser.add_argument("--vs-plain", action="store_true")
    parser.add_argument("--model-only", action="store_true")
    parser.add_argument("--optimizer-only", action="store_true")
    parser.add_argument("--device-crops", action="store_true",
                        help="with --model-only: 256 px uint8 batches from host memory, cropped and flipped on the device")
    parser.add_argument("--peak-tflops", type=float, default=790.0,
                        help="the chip's dense fp16/bf16 peak, for --device-crops' share (an H200: 790)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per figure (--model-only)")
    args = parser.parse_args()
    if args.device_crops and not args.model_only:
        parser.exit(2, "--device-crops goes with --model-only\n")
    if args.optimizer_only:
        figures = optimizer_step_seconds()
        print(f"one Adam update of {figures['weights']:,} float32 weights (best of 10)")
        print(f"{'optimizer':<24}{'s/step':>10}")
        print(f"{'keras.optimizers.Adam':<24}{figures['keras_adam_s']:>10.4f}")
        print(f"{'FusedAdam':<24}{figures['fused_adam_s']:>10.4f}")
        print(json.dumps({"ratio": round(figures["keras_adam_s"] / figures["fused_adam_s"], 2), **figures}))
        return
    if args.model_only and args.device_crops:
        figures = model_only(args.batch or 256, args.rounds, device_crops=True, steps=args.steps)
        print(f"plain AlexNet (bn), batch {figures['batch']}, uint8 {STORED} px from host memory, cropped to "
              f"{IMAGE_SIZE} and flipped on the device, backend {figures['backend']}")
        print(f"{'policy':<18}{'images/s':>10}{'share of ' + format(args.peak_tflops, 'g') + ' TFLOP/s':>24}")
        for policy in ("mixed_float16", "mixed_bfloat16"):
            figures[f"{policy}_peak_share"] = round(peak_share(figures[policy], args.peak_tflops), 4)
            print(f"{policy:<18}{figures[policy]:>10.1f}{figures[policy + '_peak_share']:>24.2%}")
        best = max(figures["mixed_float16"], figures["mixed_bfloat16"])
        print(f"best {best:.0f} images/s (goal >= {DEVICE_CROPS_GOAL_IMG_S:,})")
        print(json.dumps({"best_img_s": best, "goal_img_s": DEVICE_CROPS_GOAL_IMG_S,
                          "peak_tflops": args.peak_tflops, **figures}))
        return
    if args.model_only:
        figures = model_only(args.batch or 256, args.rounds, steps=args.steps)
        print(f"plain AlexNet (bn), batch {figures['batch']}, {IMAGE_SIZE} px, backend {figures['backend']}")
        print(f"{'policy':<18}{'images/s':>10}")
        for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
            print(f"{policy:<18}{figures[policy]:>10.1f}")
        print(json.dumps({"ratio": round(figures["mixed_bfloat16"] / figures["float32"], 2), **figures}))
        return
    if not args.dataset.is_dir():
        parser.exit(2, f"{args.dataset}: dataset folder not found\n")
    figures = versus_plain(args.dataset) if args.vs_plain else precision_rounds(args.dataset, args.rounds, args.batch)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
