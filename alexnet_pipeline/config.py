"""Typed, validated view of `params.yaml`: one frozen dataclass per section.

`load_params` turns the YAML into `Params`; an unknown key, a missing key, a value of the
wrong type or out of range stops with a `ConfigError` naming the key (e.g. `train.epochs`).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from alexnet_pipeline.errors import ConfigError
from alexnet_pipeline.sources.sample_data import TEXTURES

# AlexNet's three 3x3/2 poolings need at least a 1x1 map after conv5: (67 - 11) / 4 + 1 = 15 -> 7 -> 3 -> 1.
MIN_IMAGE_SIZE = 67
SCIENTIFIC_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
KAGGLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
KAGGLE_SLUG = re.compile(rf"{KAGGLE_NAME.pattern}/{KAGGLE_NAME.pattern}")


@dataclass(frozen=True)
class BaseConfig:
    seed: int
    image_size: int

    def check(self) -> None:
        _require(0 <= self.seed < 2**32, "base.seed", "must be in 0..4294967295")
        _require(self.image_size >= MIN_IMAGE_SIZE, "base.image_size", f"must be >= {MIN_IMAGE_SIZE}")


@dataclass(frozen=True)
class PathsConfig:
    """Every file and folder the stages read or write; dvc.yaml interpolates the same values."""

    source: Path
    raw: Path
    validated: Path
    processed: Path
    model: Path
    best_model: Path
    labels: Path
    serving: Path
    train_logs: Path
    train_state: Path
    validation_report: Path
    data_docs: Path
    metrics: Path
    eval_plots: Path
    report: Path
    report_markdown: Path

    def check(self) -> None:
        """Outputs are replaced whole, so each must be its own path, never the project root."""
        named = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, path in named.items():
            _require(path != Path("."), f"paths.{name}", "must not be the project root")
            for other_name, other in named.items():
                if other_name != name and (path == other or path in other.parents):
                    raise ConfigError(f"params.yaml: `paths.{name}` ({path}) and `paths.{other_name}` "
                                      f"({other}) overlap; give each output its own path")


@dataclass(frozen=True)
class SampleConfig:
    classes: tuple[str, ...]
    train_per_class: int
    test_per_class: int
    min_side: int
    max_side: int
    jpeg_quality: int

    def check(self) -> None:
        _require(len(self.classes) >= 2, "data.sample.classes", "needs at least 2 classes")
        _require(len(set(self.classes)) == len(self.classes), "data.sample.classes",
                 "has a class twice")
        unknown = sorted(set(self.classes) - set(TEXTURES))
        _require(not unknown, "data.sample.classes",
                 f"has unknown classes {unknown}; choose from {', '.join(TEXTURES)}")
        _require(self.train_per_class >= 2, "data.sample.train_per_class", "must be >= 2")
        _require(self.test_per_class >= 1, "data.sample.test_per_class", "must be >= 1")
        _require(8 <= self.min_side <= self.max_side, "data.sample.min_side",
                 "must be >= 8 and <= data.sample.max_side")
        _require(1 <= self.jpeg_quality <= 95, "data.sample.jpeg_quality", "must be in 1..95")


@dataclass(frozen=True)
class LocalConfig:
    path: str


@dataclass(frozen=True)
class KaggleConfig:
    """Where `data.source: kaggle` downloads from, and how hard it tries."""

    dataset: str  # owner/slug
    version: int | None  # a dataset version to pin; null follows the latest
    competition: str  # when set, this competition's files are used instead of `dataset`
    cache_dir: str  # downloaded archives; empty means the user's cache folder
    retries: int  # extra attempts after a transient failure (connection, timeout, 429, 5xx)
    backoff_s: float  # first wait between attempts; doubles each time
    timeout_s: float  # connect and read timeout of each request

    def check(self) -> None:
        _require(KAGGLE_SLUG.fullmatch(self.dataset) is not None, "data.kaggle.dataset",
                 f"must be owner/slug (e.g. tongpython/cat-and-dog), got {self.dataset!r}")
        _require(self.version is None or self.version >= 1, "data.kaggle.version",
                 "must be a version number >= 1, or null for the latest")
        _require(not self.competition or KAGGLE_NAME.fullmatch(self.competition) is not None,
                 "data.kaggle.competition",
                 f"must be a competition name as in its URL (e.g. dogs-vs-cats), got {self.competition!r}")
        _require(self.retries >= 0, "data.kaggle.retries", "must be >= 0")
        _require(self.backoff_s >= 0, "data.kaggle.backoff_s", "must be >= 0")
        _require(self.timeout_s > 0, "data.kaggle.timeout_s", "must be > 0")


@dataclass(frozen=True)
class ExtractConfig:
    """Caps on what a dataset archive may unpack to (zip-bomb protection)."""

    max_total_gb: float
    max_ratio: float

    def check(self) -> None:
        _require(self.max_total_gb > 0, "data.extract.max_total_gb", "must be > 0")
        _require(self.max_ratio >= 1, "data.extract.max_ratio", "must be >= 1")


@dataclass(frozen=True)
class DataConfig:
    source: Literal["sample", "kaggle", "local"]
    local: LocalConfig
    kaggle: KaggleConfig
    sample: SampleConfig
    extract: ExtractConfig


@dataclass(frozen=True)
class ValidateConfig:
    on_invalid: Literal["fail", "quarantine"]
    on_duplicate: Literal["drop", "keep", "fail"]  # identical files within one split
    on_leakage: Literal["fail", "drop"]  # identical files in two splits
    allowed_formats: tuple[str, ...]
    min_side: int
    max_side: int
    min_images_per_class: int
    max_class_imbalance: float  # largest train class / smallest
    workers: int  # processes decoding images; 0 means one per core

    def check(self) -> None:
        _require(1 <= self.min_side <= self.max_side, "validate.min_side",
                 "must be >= 1 and <= validate.max_side")
        _require(self.min_images_per_class >= 1, "validate.min_images_per_class", "must be >= 1")
        _require(self.max_class_imbalance >= 1, "validate.max_class_imbalance", "must be >= 1")
        _require(self.workers >= 0, "validate.workers", "must be >= 0 (0: one per core)")


@dataclass(frozen=True)
class PreprocessConfig:
    val_fraction: float
    test_fraction: float
    resize: Literal["paper", "crop", "squash", "pad"]
    shard_size: int
    encoding: Literal["jpeg", "raw"]  # how shards store pixels
    jpeg_quality: int
    workers: int  # processes writing shards; 0 means one per core

    def check(self) -> None:
        _require(0.0 < self.val_fraction < 1.0, "preprocess.val_fraction", "must be between 0 and 1")
        _require(0.0 < self.test_fraction < 1.0, "preprocess.test_fraction", "must be between 0 and 1")
        _require(self.shard_size >= 1, "preprocess.shard_size", "must be >= 1")
        _require(1 <= self.jpeg_quality <= 100, "preprocess.jpeg_quality", "must be in 1..100")
        _require(self.workers >= 0, "preprocess.workers", "must be >= 0 (0: one per core)")


@dataclass(frozen=True)
class PlateauConfig:
    """Divide the learning rate when val loss stops improving (the paper: by 10, at most 3 times)."""

    patience: int  # epochs without improvement before a drop; 0 turns it off
    factor: float
    max_drops: int

    def check(self) -> None:
        _require(self.patience >= 0, "train.lr_plateau.patience", "must be >= 0 (0: off)")
        _require(0.0 < self.factor < 1.0, "train.lr_plateau.factor", "must be in (0, 1)")
        _require(self.max_drops >= 0, "train.lr_plateau.max_drops", "must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    recipe: Literal["custom", "paper"]  # paper: the paper's values replace the optimizer knobs
    epochs: int
    batch_size: int
    optimizer: Literal["sgd", "adam"]
    learning_rate: float
    momentum: float
    weight_decay: float
    label_smoothing: float
    warmup_epochs: int
    lr_plateau: PlateauConfig
    early_stopping_patience: int  # epochs without val loss improvement; 0 turns it off
    flip: bool
    lighting_std: float  # the paper's PCA lighting noise (0.1); 0 turns it off
    deterministic: bool
    mixed_precision: Literal["auto", "off", "bf16", "fp16"]
    jit_compile: bool

    def check(self) -> None:
        _require(self.epochs >= 1, "train.epochs", "must be >= 1")
        _require(0.0 <= self.lighting_std <= 1.0, "train.lighting_std", "must be in [0, 1]")
        _require(self.batch_size >= 1, "train.batch_size", "must be >= 1")
        _require(self.learning_rate > 0, "train.learning_rate", "must be > 0")
        _require(0.0 <= self.momentum < 1.0, "train.momentum", "must be in [0, 1)")
        _require(0.0 <= self.weight_decay < 1.0, "train.weight_decay", "must be in [0, 1)")
        _require(0.0 <= self.label_smoothing < 1.0, "train.label_smoothing", "must be in [0, 1)")
        _require(self.warmup_epochs >= 0, "train.warmup_epochs", "must be >= 0")
        _require(self.early_stopping_patience >= 0, "train.early_stopping_patience", "must be >= 0 (0: off)")
        _require(not (self.jit_compile and self.deterministic), "train.jit_compile",
                 "cannot be true with `train.deterministic: true` (XLA has no deterministic mode for every "
                 "op); set train.deterministic: false to use XLA")


@dataclass(frozen=True)
class ModelConfig:
    """The network: which AlexNet, its dropout and its initialization."""

    variant: Literal["paper", "grouped", "bn"]
    dropout: float
    init: Literal["paper", "glorot", "he"]

    def check(self) -> None:
        _require(0.0 <= self.dropout < 1.0, "model.dropout", "must be in [0, 1)")


@dataclass(frozen=True)
class EvaluateConfig:
    model: Literal["best", "last"]  # which saved model evaluate, export, predict and the report use
    batch_size: int
    ten_crop: bool  # the paper's test: average over 4 corner + centre crops and their mirrors

    def check(self) -> None:
        _require(self.batch_size >= 1, "evaluate.batch_size", "must be >= 1")


@dataclass(frozen=True)
class ReportConfig:
    title: str


@dataclass(frozen=True)
class ClusterConfig:
    """Where work runs. No stage lists it as a dependency: the outputs are the same either way."""

    preprocess: Literal["local", "dask"]  # local: preprocess.workers processes; dask: Prefect's DaskTaskRunner
    dask_address: str  # a running Dask scheduler; "" starts a local cluster of preprocess.workers processes
    chief_wait_s: float  # across hosts (TF_CONFIG): how long a worker waits for the chief to start training

    def check(self) -> None:
        _require(self.chief_wait_s > 0, "cluster.chief_wait_s", "must be > 0 (seconds)")
        _require(not self.dask_address or "://" in self.dask_address, "cluster.dask_address",
                 f"must be a scheduler address such as tcp://10.0.0.5:8786, got {self.dask_address!r}")
        _require(not self.dask_address or self.preprocess == "dask", "cluster.dask_address",
                 "is only used with cluster.preprocess: dask")


@dataclass(frozen=True)
class Params:
    base: BaseConfig
    paths: PathsConfig
    data: DataConfig
    validate: ValidateConfig
    preprocess: PreprocessConfig
    model: ModelConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    report: ReportConfig
    cluster: ClusterConfig

    @property
    def scored_model(self) -> Path:
        """The model evaluate, export, predict and the report use: `evaluate.model` picks the
        epoch with the lowest val loss (best) or the last epoch's."""
        return self.paths.best_model if self.evaluate.model == "best" else self.paths.model


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"params.yaml: `{key}` {message}")


def _optional_of(tp: Any) -> Any:
    """The `X` of an `X | None` annotation, else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _type_name(tp: Any) -> str:
    if _optional_of(tp) is not None:
        return f"{_type_name(_optional_of(tp))} or null"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            Path: "a path"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp` and convert it (lists to tuples, str to Path)."""
    wrong = ConfigError(f"params.yaml: `{key}` must be {_type_name(tp)}, got {value!r}")
    origin = typing.get_origin(tp)
    if _optional_of(tp) is not None:
        try:
            return None if value is None else _convert(value, _optional_of(tp), key)
        except ConfigError:
            raise wrong from None
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is Literal:
        if value is False and "off" in typing.get_args(tp):
            value = "off"  # YAML 1.1 (PyYAML, `dvc exp run -S`) reads a bare `off` as false
        if value not in typing.get_args(tp):
            raise wrong
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise wrong
        item_type = typing.get_args(tp)[0]
        return tuple(_convert(item, item_type, f"{key}[{i}]") for i, item in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if tp is float:
        # YAML 1.1 (PyYAML) reads `1e-4` as a string; DVC's `-S key=1e-4` writes exactly that.
        if isinstance(value, str) and SCIENTIFIC_NUMBER.fullmatch(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise wrong
        return Path(value)
    raise TypeError(f"unsupported annotation {tp} for {key}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass `cls` from a mapping, naming the first unknown, missing or ill-typed key."""
    where = f"`{prefix}`" if prefix else "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"params.yaml: {where} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    dotted = (lambda name: f"{prefix}.{name}") if prefix else (lambda name: name)
    for name in data:
        if name not in hints:
            raise ConfigError(
                f"params.yaml: unknown key `{dotted(name)}`; known keys in {where}: {', '.join(fields)}"
            )
    for name in fields:
        if name not in data:
            raise ConfigError(f"params.yaml: missing key `{dotted(name)}` ({_type_name(hints[name])})")
    obj = cls(**{name: _convert(data[name], hints[name], dotted(name)) for name in fields})
    check = getattr(obj, "check", None)
    if check is not None:
        check()
    return obj


def params_from_dict(data: Any) -> Params:
    """Validate an already-parsed `params.yaml` mapping and return typed `Params`."""
    return _build(Params, data, "")


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
