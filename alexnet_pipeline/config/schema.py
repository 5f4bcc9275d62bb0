"""The schema of `params.yaml`: one frozen, closed pydantic model per section.

Each field's `description` is the one place its meaning is written: params.yaml's comments and
the params reference are made from it. Types are strict (`true` is not 1, "3" is not 3; an int
is a float); a rule across fields raises a `ValueError` that names its keys.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

# AlexNet's three 3x3/2 poolings need at least a 1x1 map after conv5: (67 - 11) / 4 + 1 = 15 -> 7 -> 3 -> 1.
MIN_IMAGE_SIZE = 67
SAMPLE_CLASSES = ("stripes", "checks", "dots", "rings")  # the textures `sources.sample_data` draws
KAGGLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
KAGGLE_SLUG = re.compile(rf"{KAGGLE_NAME.pattern}/{KAGGLE_NAME.pattern}")


def _non_empty(value: Any, info: ValidationInfo) -> Any:
    """A rule of the `paths` section, whose entries are all `NonEmptyPath`s: Path("") would be the
    project root, which `PathsConfig._apart` refuses as "."."""
    _require(value != "", f"paths.{info.field_name}", "must not be empty")
    return value


Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
NonEmptyPath = Annotated[Path, BeforeValidator(_non_empty)]


def _require(condition: bool, key: str, message: str) -> None:
    """A rule beyond a field's type and bounds; `messages` shows it as it is."""
    if not condition:
        raise ValueError(f"`{key}` {message}")


class _Section(BaseModel):
    """Closed (an unknown key is an error) and frozen like the dataclasses it replaces."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


class BaseConfig(_Section):
    seed: Int = Field(ge=0, le=2**32 - 1,
                      description="seeds the sample generator, the split, shuffling and initialisation")
    image_size: Int = Field(ge=MIN_IMAGE_SIZE, description="network input side in pixels (the paper's 227)")


class PathsConfig(_Section):
    source: NonEmptyPath = Field(
        description="what the data source is right now (Kaggle version, folder fingerprint)")
    raw: NonEmptyPath = Field(description="the downloaded dataset as <split>/<class>/<file>, plus layout.json")
    validated: NonEmptyPath = Field(description="manifest.csv: the usable images, which preprocess reads")
    processed: NonEmptyPath = Field(
        description="TFRecord shards of train, val and test, with the class index, image stats and split table")
    model: NonEmptyPath = Field(description="the model after the last epoch")
    best_model: NonEmptyPath = Field(description="the epoch with the lowest val loss (evaluate.model: best)")
    labels: NonEmptyPath = Field(description="class names, in the model's output order")
    serving: NonEmptyPath = Field(description="SavedModel for serving: encoded image bytes in, classes out")
    train_logs: NonEmptyPath = Field(description="dvclive metrics and plots, TensorBoard logs, summary.json")
    train_state: NonEmptyPath = Field(
        description="an unfinished run's backup (not a DVC output): the next run resumes from it")
    validation_report: NonEmptyPath = Field(
        description="validate's findings: counts, invalid files with reasons, duplicates, leakage, expectations")
    data_docs: NonEmptyPath = Field(description="great-expectations Data Docs (open index.html)")
    metrics: NonEmptyPath = Field(
        description="the scored model's test metrics: accuracy, loss, per-class figures, confusion matrix")
    eval_plots: NonEmptyPath = Field(
        description="data of dvc plots: confusion, ROC and PR curves, every test prediction, the misclassified")
    report: NonEmptyPath = Field(description="the run's self-contained HTML report")
    report_markdown: NonEmptyPath = Field(description="the report's headline figures, for terminals and CI")
    blessed: NonEmptyPath = Field(
        description="the blessed model and its dataset's reference (kept between runs; the registry's artifact)")
    gate: NonEmptyPath = Field(
        description="the gate's decision: promoted or not, both models' figures, reasons, versions")
    drift: NonEmptyPath = Field(description="data drift between the blessed model's dataset and this one")
    drift_gallery: NonEmptyPath = Field(
        description="thumbnails of the 12 sampled images farthest from the blessed model's data (the report's gallery)")
    history: NonEmptyPath = Field(
        description="every gate decision and rollback, one JSON line each (kept between runs, in git)")
    model_card: NonEmptyPath = Field(
        description="the blessed model's card: intended use, data, metrics with intervals, recipe, limits")

    @model_validator(mode="after")
    def _apart(self) -> PathsConfig:
        """Outputs are replaced whole, so each must be its own path, never the project root."""
        named = self.model_dump()
        for name, path in named.items():
            _require(path != Path("."), f"paths.{name}", "must not be the project root")
            for other_name, other in named.items():
                if other_name != name and (path == other or path in other.parents):
                    raise ValueError(f"`paths.{name}` ({path}) and `paths.{other_name}` ({other}) overlap; "
                                     "give each output its own path")
        return self


class SampleConfig(_Section):
    classes: tuple[Str, ...] = Field(description="the textures to draw, one class each")
    train_per_class: Int = Field(ge=2, description="train images generated per class")
    test_per_class: Int = Field(ge=1, description="test images generated per class")
    min_side: Int = Field(ge=8, description="smallest side of a generated image in pixels")
    max_side: Int = Field(description="largest side of a generated image in pixels")
    jpeg_quality: Int = Field(ge=1, le=95, description="JPEG quality of the generated images")

    @field_validator("classes")
    @classmethod
    def _known(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        _require(len(classes) >= 2, "data.sample.classes", "needs at least 2 classes")
        _require(len(set(classes)) == len(classes), "data.sample.classes", "has a class twice")
        unknown = sorted(set(classes) - set(SAMPLE_CLASSES))
        _require(not unknown, "data.sample.classes",
                 f"has unknown classes {unknown}; choose from {', '.join(SAMPLE_CLASSES)}")
        return classes

    @model_validator(mode="after")
    def _sides(self) -> SampleConfig:
        _require(self.min_side <= self.max_side, "data.sample.min_side",
                 "must be >= 8 and <= data.sample.max_side")
        return self


class LocalConfig(_Section):
    path: Str = Field(description="for source: local, a dataset folder or a .zip/.tar(.gz) of one")


class KaggleConfig(_Section):
    dataset: Str = Field(description="owner/slug from the dataset's URL")
    version: Int | None = Field(ge=1, description="a dataset version to pin (e.g. 1); null: the latest")
    competition: Str = Field(
        description="a competition name (e.g. dogs-vs-cats) whose files are used instead of dataset; \"\": none")
    cache_dir: Str = Field(description="folder of downloaded archives; \"\": ~/.cache/alexnet-pipeline/kaggle")
    retries: Int = Field(ge=0, description="extra attempts after a connection error, timeout, 429 or 5xx")
    backoff_s: Float = Field(ge=0, description="first wait between attempts in seconds, doubled each time "
                                               "(Retry-After wins)")
    timeout_s: Float = Field(gt=0, description="connect and read timeout of each request in seconds")

    @field_validator("dataset")
    @classmethod
    def _slug(cls, dataset: str) -> str:
        _require(KAGGLE_SLUG.fullmatch(dataset) is not None, "data.kaggle.dataset",
                 f"must be owner/slug (e.g. tongpython/cat-and-dog), got {dataset!r}")
        return dataset

    @field_validator("competition")
    @classmethod
    def _competition(cls, competition: str) -> str:
        _require(not competition or KAGGLE_NAME.fullmatch(competition) is not None,
                 "data.kaggle.competition",
                 f"must be a competition name as in its URL (e.g. dogs-vs-cats), got {competition!r}")
        return competition


class ExtractConfig(_Section):
    max_total_gb: Float = Field(gt=0, description="the most an archive may unpack to, in GB")
    max_ratio: Float = Field(ge=1, description="unpacked size / archive size; image archives are near 1")


class DataConfig(_Section):
    source: Literal["sample", "kaggle", "local"] = Field(
        description="where the dataset comes from: the built-in sample, a Kaggle dataset or a local folder")
    local: LocalConfig = Field(description="the dataset of source: local")
    kaggle: KaggleConfig = Field(description="where source: kaggle downloads from, and how hard it tries")
    sample: SampleConfig = Field(description="the built-in synthetic dataset of textures (source: sample)")
    extract: ExtractConfig = Field(description="limits for unpacking dataset archives (zip-bomb protection)")


class ValidateConfig(_Section):
    on_invalid: Literal["fail", "quarantine"] = Field(
        description="what an invalid file (unreadable, too small, not allowed) does; quarantine: go on without it")
    on_duplicate: Literal["drop", "keep", "fail"] = Field(
        description="identical files in one split; drop: keep the first")
    on_leakage: Literal["fail", "drop"] = Field(
        description="identical files in two splits; drop: remove the val/test copy")
    allowed_formats: tuple[Str, ...] = Field(description="the image formats accepted, as Pillow names them")
    min_side: Int = Field(ge=1, description="smallest accepted width/height in pixels")
    max_side: Int = Field(
        description="largest accepted width/height in pixels (8000 stays under Pillow's decompression-bomb limit)")
    min_images_per_class: Int = Field(ge=1, description="fewest images a class may have in the train split")
    max_class_imbalance: Float = Field(ge=1, description="largest train class / smallest train class")
    workers: Int = Field(ge=0, description="processes decoding images for the manifest; 0: one per core")

    @model_validator(mode="after")
    def _sides(self) -> ValidateConfig:
        _require(self.min_side <= self.max_side, "validate.min_side",
                 "must be >= 1 and <= validate.max_side")
        return self


class PreprocessConfig(_Section):
    val_fraction: Float = Field(
        gt=0, lt=1, description="of train, per class, held out for validation (if the dataset has no val split)")
    test_fraction: Float = Field(
        gt=0, lt=1, description="of train, per class, held out for test (if the dataset has no test split)")
    resize: Literal["paper", "crop", "squash", "pad"] = Field(
        description="paper: 256/227 margin, random crops in training; crop: centre square; squash: stretch; "
                    "pad: black bars")
    shard_size: Int = Field(ge=1, description="images per TFRecord shard")
    encoding: Literal["jpeg", "raw"] = Field(
        description="how shards store pixels; jpeg: small shards; raw: uint8 pixels, no decoding when training")
    jpeg_quality: Int = Field(ge=1, le=100, description="JPEG quality of the shards' images (encoding: jpeg); "
                                                        "higher: larger shards, slower streamed decoding")
    workers: Int = Field(ge=0, description="processes writing shards; 0: one per core")


class PlateauConfig(_Section):
    patience: Int = Field(ge=0, description="epochs without improvement before a drop; 0: off")
    factor: Float = Field(gt=0, lt=1, description="what each drop multiplies the learning rate by")
    max_drops: Int = Field(ge=0, description="the most drops in one run")


DATA_SERVICE = re.compile(r"|grpc://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}")  # "" or a dispatcher


class TrainConfig(_Section):
    recipe: Literal["custom", "paper"] = Field(
        description="custom: the knobs below; paper: SGD 0.01, momentum 0.9, weight decay 5e-4, batch 128, "
                    "lr / 10 on plateaus")
    epochs: Int = Field(ge=1, description="passes over the train split")
    batch_size: Int = Field(ge=1, description="images per training step, split among the devices")
    optimizer: Literal["sgd", "adam"] = Field(description="the optimizer; sgd: with train.momentum")
    learning_rate: Float = Field(gt=0, description="the optimizer's learning rate")
    momentum: Float = Field(ge=0, lt=1, description="SGD momentum (optimizer: sgd only)")
    weight_decay: Float = Field(
        ge=0, lt=1, description="the paper's weight decay (0.0005): weight_decay * w joins each kernel's gradient")
    label_smoothing: Float = Field(ge=0, lt=1, description="label smoothing of the cross-entropy loss; 0: off")
    warmup_epochs: Int = Field(ge=0, description="ramp the learning rate up linearly over these epochs; 0: off")
    lr_plateau: PlateauConfig = Field(
        description="divide the learning rate when val loss stops improving (the paper: by 10, at most 3 times)")
    early_stopping_patience: Int = Field(
        ge=0, description="stop after this many epochs without val loss improvement; 0: off")
    flip: Bool = Field(description="random horizontal flips of training images")
    lighting_std: Float = Field(
        ge=0, le=1, description="PCA lighting noise along the RGB principal components (the paper's 0.1); 0: off")
    deterministic: Bool = Field(
        description="same data + seed -> same weights (on the CPU); false is faster on GPUs")
    mixed_precision: Literal["auto", "off", "bf16", "fp16"] = Field(
        description="auto: bf16 on GPUs of compute capability 8.0+, fp16 on older GPUs, off on a CPU; "
                    "fp16: loss scaling")
    jit_compile: Bool = Field(description="XLA-compile the training step (faster on most GPUs)")
    cache: Literal["auto", "memory", "off"] = Field(
        description="decode the train split once into memory; auto: if under cache_memory_share, else stream; "
                    "off: stream")
    cache_memory_share: Float = Field(
        gt=0, le=1, description="the share of available memory (the cgroup's, if lower) that cache: auto lets the "
                                "decoded split take")
    data_service: Str = Field(
        description='a tf.data service dispatcher (grpc://host:5050) whose workers make the train batches; '
                    '"": make them here')

    @model_validator(mode="after")
    def _data_service(self) -> TrainConfig:
        _require(DATA_SERVICE.fullmatch(self.data_service) is not None, "train.data_service",
                 f'must be grpc://HOST:PORT (a tf.data dispatcher, e.g. grpc://10.0.0.5:5050) or "", '
                 f"got {self.data_service!r}")
        return self

    @model_validator(mode="after")
    def _xla(self) -> TrainConfig:
        _require(not (self.jit_compile and self.deterministic), "train.jit_compile",
                 "cannot be true with `train.deterministic: true` (XLA has no deterministic mode for every "
                 "op); set train.deterministic: false to use XLA")
        return self


class ModelConfig(_Section):
    variant: Literal["paper", "grouped", "bn"] = Field(
        description="bn: batch norm (measured best here); paper: LRN, single tower; grouped: two groups")
    dropout: Float = Field(ge=0, lt=1, description="dropout rate after fc6 and fc7")
    init: Literal["paper", "glorot", "he"] = Field(
        description="weight initialization; paper: N(0, 0.01), biases 1 in conv2/4/5 and fc6/7")


class EvaluateConfig(_Section):
    model: Literal["best", "last"] = Field(
        description="the model evaluate, export, predict and the report use; best: the epoch with the lowest val loss")
    batch_size: Int = Field(ge=1, description="images per batch (x10 crops with ten_crop)")
    ten_crop: Bool = Field(
        description="the paper's test: average the 4 corner and centre crops and their mirrors")


class GateConfig(_Section):
    min_accuracy: Float = Field(ge=0, le=1, description="test accuracy the candidate must reach")
    min_class_recall: Float | None = Field(
        ge=0, le=1, description="every class's test recall must reach it (e.g. 0.3); null: off")
    max_regression: Float = Field(
        ge=0, le=1, description="accuracy it may lose against the blessed model; a larger drop blocks only if beyond "
                                "noise (gate.alpha)")
    alpha: Float = Field(
        gt=0, lt=1, description="a drop is beyond noise when McNemar's paired test gives p < alpha; "
                                "the interval shown is at 1 - alpha")
    resamples: Int = Field(ge=100, description="bootstrap resamples of the test images behind the interval")
    on_reject: Literal["warn", "fail"] = Field(
        description="the run's final state when the candidate is not promoted; warn: it completes, not promoted")


class DriftConfig(_Section):
    p_value: Float = Field(gt=0, lt=1, description="a test flags drift below this p-value, if the effect is large "
                                                   "enough too")
    min_effect: Float = Field(
        ge=0, le=1, description="the least effect a test flags as drift (total variation / KS distance)")
    sample_size: Int = Field(
        ge=10, description="images per version embedded with the blessed model for the MMD and prediction tests and the gallery")
    permutations: Int = Field(ge=100, description="permutations behind the embedding MMD test's p-value")
    on_drift: Literal["warn", "fail"] = Field(
        description="warn: report it; fail: drift blocks promotion and fails the run")

    @model_validator(mode="after")
    def _reachable(self) -> DriftConfig:
        _require(1 / (1 + self.permutations) < self.p_value, "drift.permutations",
                 f"is too few for drift.p_value {self.p_value}: the smallest p-value of "
                 f"{self.permutations} permutations is 1/{self.permutations + 1}; use at least {int(1 / self.p_value)}")
        return self


class ReportConfig(_Section):
    title: Str = Field(description="the report's title")


class ClusterConfig(_Section):
    preprocess: Literal["local", "dask"] = Field(
        description="local: preprocess.workers processes; dask: shards as Prefect tasks on a Dask cluster")
    dask_address: Str = Field(
        description="for dask: a running scheduler (tcp://host:8786); \"\": a local cluster of preprocess.workers")
    chief_wait_s: Float = Field(
        gt=0, description="training across hosts: seconds a worker waits for the chief's train stage to start")

    @model_validator(mode="after")
    def _dask(self) -> ClusterConfig:
        _require(not self.dask_address or "://" in self.dask_address, "cluster.dask_address",
                 f"must be a scheduler address such as tcp://10.0.0.5:8786, got {self.dask_address!r}")
        _require(not self.dask_address or self.preprocess == "dask", "cluster.dask_address",
                 "is only used with cluster.preprocess: dask")
        return self


with warnings.catch_warnings():
    # The `validate` section hides pydantic's deprecated `BaseModel.validate`, which nothing here uses.
    warnings.filterwarnings("ignore", 'Field name "validate"', UserWarning)

    class Params(_Section):
        """All of params.yaml: `load_params` reads it into this."""

        base: BaseConfig = Field(description="what every stage shares: the seed and the network's input size")
        paths: PathsConfig = Field(
            description="every file and folder the stages use; dvc.yaml reads the same values")
        data: DataConfig = Field(description="where the dataset comes from, and how it is fetched and unpacked")
        validate: ValidateConfig = Field(
            description="the checks of the downloaded images, and what a failed check does")
        preprocess: PreprocessConfig = Field(
            description="how the validated images are split, resized and written to TFRecord shards")
        model: ModelConfig = Field(description="the network: which AlexNet, its dropout and its initialization")
        train: TrainConfig = Field(
            description="how the model is fitted; defaults measured to learn from scratch on small data (docs/training.md)")
        evaluate: EvaluateConfig = Field(description="which saved model is scored on the test split, and how")
        gate: GateConfig = Field(
            description="a candidate replaces the blessed model only if it passes (docs/trust.md)")
        drift: DriftConfig = Field(description="the new data against the blessed model's data (docs/trust.md)")
        report: ReportConfig = Field(description="the HTML and Markdown report of a run")
        cluster: ClusterConfig = Field(
            description="where work runs; no stage depends on it, since the outputs are the same either way")

        @property
        def scored_model(self) -> Path:
            """The model evaluate, export, predict and the report use: `evaluate.model` picks the
            epoch with the lowest val loss (best) or the last epoch's."""
            return self.paths.best_model if self.evaluate.model == "best" else self.paths.model
