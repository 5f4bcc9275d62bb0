"""Typed, validated view of `params.yaml`: one frozen pydantic model per section.

`load_params` turns the YAML into `Params`; an unknown key, a missing key, a value of the wrong
type or out of range stops with a `ConfigError` naming the key (e.g. `train.epochs`).
"""

from __future__ import annotations

import dataclasses
import re
import typing
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from alexnet_pipeline.errors import ConfigError

# AlexNet's three 3x3/2 poolings need at least a 1x1 map after conv5: (67 - 11) / 4 + 1 = 15 -> 7 -> 3 -> 1.
MIN_IMAGE_SIZE = 67
SAMPLE_CLASSES = ("stripes", "checks", "dots", "rings")  # the textures `sources.sample_data` draws
SCIENTIFIC_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
KAGGLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
KAGGLE_SLUG = re.compile(rf"{KAGGLE_NAME.pattern}/{KAGGLE_NAME.pattern}")
OPERATORS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}  # pydantic's bound names
FIRST_REPORTED = {"extra_forbidden": 0, "missing": 1}  # of several errors, these kinds come first


def _scientific(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads `1e-4` as a string; DVC's `-S key=1e-4` writes exactly that."""
    if isinstance(value, str) and SCIENTIFIC_NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


def _non_empty(value: Any) -> Any:
    if value == "":  # Path("") would be the project root
        raise PydanticCustomError("path_type", "an empty path")
    return value


# No coercion: `true` is not 1, "3" is not 3; an int is a float, and so is "1e-4".
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), BeforeValidator(_scientific)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
NonEmptyPath = Annotated[Path, BeforeValidator(_non_empty)]


class _Section(BaseModel):
    """Closed (an unknown key is an error) and frozen like the dataclasses it replaces."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


class BaseConfig(_Section):
    seed: Int = Field(ge=0, le=2**32 - 1)
    image_size: Int = Field(ge=MIN_IMAGE_SIZE)


class PathsConfig(_Section):
    """Every file and folder the stages read or write; dvc.yaml interpolates the same values."""

    source: NonEmptyPath
    raw: NonEmptyPath
    validated: NonEmptyPath
    processed: NonEmptyPath
    model: NonEmptyPath
    best_model: NonEmptyPath
    labels: NonEmptyPath
    serving: NonEmptyPath
    train_logs: NonEmptyPath
    train_state: NonEmptyPath
    validation_report: NonEmptyPath
    data_docs: NonEmptyPath
    metrics: NonEmptyPath
    eval_plots: NonEmptyPath
    report: NonEmptyPath
    report_markdown: NonEmptyPath
    blessed: NonEmptyPath
    gate: NonEmptyPath
    drift: NonEmptyPath

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
    classes: tuple[Str, ...]
    train_per_class: Int = Field(ge=2)
    test_per_class: Int = Field(ge=1)
    min_side: Int = Field(ge=8)
    max_side: Int
    jpeg_quality: Int = Field(ge=1, le=95)

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
    path: Str


class KaggleConfig(_Section):
    """Where `data.source: kaggle` downloads from, and how hard it tries."""

    dataset: Str  # owner/slug
    version: Int | None = Field(ge=1, description="null: the latest")  # a dataset version to pin
    competition: Str  # when set, this competition's files are used instead of `dataset`
    cache_dir: Str  # downloaded archives; empty means the user's cache folder
    retries: Int = Field(ge=0)  # extra attempts after a transient failure (connection, timeout, 429, 5xx)
    backoff_s: Float = Field(ge=0)  # first wait between attempts; doubles each time
    timeout_s: Float = Field(gt=0)  # connect and read timeout of each request

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
    """Caps on what a dataset archive may unpack to (zip-bomb protection)."""

    max_total_gb: Float = Field(gt=0)
    max_ratio: Float = Field(ge=1)


class DataConfig(_Section):
    source: Literal["sample", "kaggle", "local"]
    local: LocalConfig
    kaggle: KaggleConfig
    sample: SampleConfig
    extract: ExtractConfig


class ValidateConfig(_Section):
    on_invalid: Literal["fail", "quarantine"]
    on_duplicate: Literal["drop", "keep", "fail"]  # identical files within one split
    on_leakage: Literal["fail", "drop"]  # identical files in two splits
    allowed_formats: tuple[Str, ...]
    min_side: Int = Field(ge=1)
    max_side: Int
    min_images_per_class: Int = Field(ge=1)
    max_class_imbalance: Float = Field(ge=1)  # largest train class / smallest
    workers: Int = Field(ge=0, description="0: one per core")  # processes decoding images

    @model_validator(mode="after")
    def _sides(self) -> ValidateConfig:
        _require(self.min_side <= self.max_side, "validate.min_side",
                 "must be >= 1 and <= validate.max_side")
        return self


class PreprocessConfig(_Section):
    val_fraction: Float = Field(gt=0, lt=1)
    test_fraction: Float = Field(gt=0, lt=1)
    resize: Literal["paper", "crop", "squash", "pad"]
    shard_size: Int = Field(ge=1)
    encoding: Literal["jpeg", "raw"]  # how shards store pixels
    jpeg_quality: Int = Field(ge=1, le=100)
    workers: Int = Field(ge=0, description="0: one per core")  # processes writing shards


class PlateauConfig(_Section):
    """Divide the learning rate when val loss stops improving (the paper: by 10, at most 3 times)."""

    patience: Int = Field(ge=0, description="0: off")  # epochs without improvement before a drop
    factor: Float = Field(gt=0, lt=1)
    max_drops: Int = Field(ge=0)


class TrainConfig(_Section):
    recipe: Literal["custom", "paper"]  # paper: the paper's values replace the optimizer knobs
    epochs: Int = Field(ge=1)
    batch_size: Int = Field(ge=1)
    optimizer: Literal["sgd", "adam"]
    learning_rate: Float = Field(gt=0)
    momentum: Float = Field(ge=0, lt=1)
    weight_decay: Float = Field(ge=0, lt=1)
    label_smoothing: Float = Field(ge=0, lt=1)
    warmup_epochs: Int = Field(ge=0)
    lr_plateau: PlateauConfig
    early_stopping_patience: Int = Field(ge=0, description="0: off")  # epochs without val loss improvement
    flip: Bool
    lighting_std: Float = Field(ge=0, le=1)  # the paper's PCA lighting noise (0.1); 0 turns it off
    deterministic: Bool
    mixed_precision: Literal["auto", "off", "bf16", "fp16"]
    jit_compile: Bool

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _bare_off(cls, value: Any) -> Any:
        """YAML 1.1 (PyYAML, `dvc exp run -S`) reads a bare `off` as false."""
        return "off" if value is False else value

    @model_validator(mode="after")
    def _xla(self) -> TrainConfig:
        _require(not (self.jit_compile and self.deterministic), "train.jit_compile",
                 "cannot be true with `train.deterministic: true` (XLA has no deterministic mode for every "
                 "op); set train.deterministic: false to use XLA")
        return self


class ModelConfig(_Section):
    """The network: which AlexNet, its dropout and its initialization."""

    variant: Literal["paper", "grouped", "bn"]
    dropout: Float = Field(ge=0, lt=1)
    init: Literal["paper", "glorot", "he"]


class EvaluateConfig(_Section):
    model: Literal["best", "last"]  # which saved model evaluate, export, predict and the report use
    batch_size: Int = Field(ge=1)
    ten_crop: Bool  # the paper's test: average over 4 corner + centre crops and their mirrors


class GateConfig(_Section):
    """When a candidate model replaces the blessed one (TFX's "blessing")."""

    min_accuracy: Float = Field(ge=0, le=1)  # test accuracy the candidate must reach
    min_class_recall: Float | None = Field(ge=0, le=1)  # every class's recall must reach it; null: off
    max_regression: Float = Field(ge=0, le=1)  # accuracy it may lose against the blessed model on the same test split
    on_reject: Literal["warn", "fail"]  # the run's final state when the candidate is not promoted


class DriftConfig(_Section):
    """How the new dataset is compared with the blessed model's dataset."""

    p_value: Float = Field(gt=0, lt=1)  # a test flags drift below this p-value...
    min_effect: Float = Field(ge=0, le=1)  # ...and at or above this effect (distance between distributions)
    sample_size: Int = Field(ge=10)  # images embedded per version
    permutations: Int = Field(ge=100)  # for the embedding MMD's p-value
    on_drift: Literal["warn", "fail"]  # fail: drift blocks promotion and fails the run

    @model_validator(mode="after")
    def _reachable(self) -> DriftConfig:
        _require(1 / (1 + self.permutations) < self.p_value, "drift.permutations",
                 f"is too few for drift.p_value {self.p_value}: the smallest p-value of "
                 f"{self.permutations} permutations is 1/{self.permutations + 1}; use at least {int(1 / self.p_value)}")
        return self


class ReportConfig(_Section):
    title: Str


class ClusterConfig(_Section):
    """Where work runs. No stage lists it as a dependency: the outputs are the same either way."""

    preprocess: Literal["local", "dask"]  # local: preprocess.workers processes; dask: Prefect's DaskTaskRunner
    dask_address: Str  # a running Dask scheduler; "" starts a local cluster of preprocess.workers processes
    # across hosts (TF_CONFIG): how long a worker waits for the chief to start training
    chief_wait_s: Float = Field(gt=0, description="seconds")

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
        base: BaseConfig
        paths: PathsConfig
        data: DataConfig
        validate: ValidateConfig
        preprocess: PreprocessConfig
        model: ModelConfig
        train: TrainConfig
        evaluate: EvaluateConfig
        gate: GateConfig
        drift: DriftConfig
        report: ReportConfig
        cluster: ClusterConfig

        @property
        def scored_model(self) -> Path:
            """The model evaluate, export, predict and the report use: `evaluate.model` picks the
            epoch with the lowest val loss (best) or the last epoch's."""
            return self.paths.best_model if self.evaluate.model == "best" else self.paths.model


def _require(condition: bool, key: str, message: str) -> None:
    """A rule beyond a field's type and bounds; `_message` shows it as it is."""
    if not condition:
        raise ValueError(f"`{key}` {message}")


def _field(loc: tuple[int | str, ...]) -> FieldInfo:
    """The field at `loc`, a path of keys from the top of params.yaml."""
    model: Any = Params
    for name in loc[:-1]:
        model = model.model_fields[name].annotation
    return model.model_fields[loc[-1]]


def _expected(annotation: Any) -> str:
    """What a value of `annotation` looks like in YAML, for a message."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Annotated:
        return _expected(args[0])
    if type(None) in args:
        return f"{_expected(args[0])} or null"
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if typing.get_origin(annotation) is tuple:
        return f"a list of {_expected(args[0])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            Path: "a path"}[annotation]


def _range(field: FieldInfo) -> str:
    """A field's bounds as a message: `>= 1`, `in 1..95` (integers), `in [0, 1)`."""
    bounds = {name: getattr(rule, name) for rule in field.metadata for name in OPERATORS
              if hasattr(rule, name)}
    low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
    if low is None or high is None:
        name, bound = next(iter(bounds.items()))
        text = f"{OPERATORS[name]} {bound}"
    elif field.annotation is int:
        text = f"in {low}..{high}"
    else:
        text = f"in {'[' if 'ge' in bounds else '('}{low}, {high}{']' if 'le' in bounds else ')'}"
    return f"{text} ({field.description})" if field.description else text


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return text.removeprefix(".")  # only the joint's own dot: a key may begin with one itself


def _message(error: ErrorDetails) -> str:
    """One pydantic error in params.yaml's words, naming the dotted key."""
    loc, kind, key = error["loc"], error["type"], _dotted(error["loc"])
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "extra_forbidden":
        section = loc[:-1]
        known = (_field(section).annotation if section else Params).model_fields
        where = f"`{_dotted(section)}`" if section else "the top level"
        return f"unknown key `{key}`; known keys in {where}: {', '.join(known)}"
    if kind == "missing":
        return f"missing key `{key}` ({_expected(_field(loc).annotation)})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"`{key}` must be {_range(_field(loc))}"
    if not loc:
        return f"the top level must be a mapping, got {error['input']!r}"
    if isinstance(loc[-1], int):  # an item of a list
        annotation = typing.get_args(_field(loc[:-1]).annotation)[0]
    else:
        annotation = _field(loc).annotation
    return f"`{key}` must be {_expected(annotation)}, got {error['input']!r}"


def params_from_dict(data: Any) -> Params:
    """Validate an already-parsed `params.yaml` mapping and return typed `Params`."""
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        # A misspelt key is both unknown and missing: name it as unknown, which lists the known keys.
        first = min(exc.errors(), key=lambda error: FIRST_REPORTED.get(error["type"], len(FIRST_REPORTED)))
        raise ConfigError(f"params.yaml: {_message(first)}") from None


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate the params file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; run from the project root or pass --params") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return params_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("params.yaml", str(path), 1)) from None
