"""The JSON files one stage writes and another reads, one typed model each, used on both sides.

`write_contract` checks a file's content against its model before writing it (atomically);
`read_contract` loads it back and turns a missing or malformed file into a `ContractError` that
names the file, the field and what to do. CSV tables passed between stages work the same way, one
model per row: `write_rows` and `read_rows`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, RootModel, ValidationError

from alexnet_pipeline.core import atomic
from alexnet_pipeline.errors import PipelineError

Counts = dict[str, dict[str, int]]  # {split: {class: images}}
SplitName = Literal["train", "val", "test"]


class ContractError(PipelineError):
    """A file passed between stages is missing or does not hold what its model says."""


class Contract(BaseModel):
    """A file's top-level fields; an unknown field is an error, so that a renamed one is caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRecord(Contract):
    """`paths.source`: what identifies the current data (source stage -> download)."""

    model_config = ConfigDict(extra="allow", frozen=True)  # each source adds its own identity
    source: Literal["sample", "local", "kaggle"]


class DatasetLayout(Contract):
    """`layout.json` in `paths.raw`: where the images came from and how many (download -> validate, report)."""

    model_config = ConfigDict(extra="allow", frozen=True)  # the source record's identity comes along
    source: Literal["sample", "local", "kaggle"]
    splits: Counts
    classes: list[str]
    rejected: list[dict[str, str]] = []  # files download refused to read (links leaving the dataset)


class ValidationReport(Contract):
    """`paths.validation_report` (validate -> report, the flow)."""

    success: bool
    policies: dict[str, str]
    counts: dict[str, Any]
    invalid: list[dict[str, str]]
    duplicates: list[dict[str, Any]]
    leakage: list[dict[str, Any]]
    expectations: list[dict[str, Any]]
    class_expectations: list[dict[str, Any]]
    data_docs: str | None = None


class ClassNames(RootModel[list[str]]):
    """`classes.json` (preprocess -> train) and `paths.labels` (train -> evaluate, export, predict):
    class names by class id."""


class ImageStats(Contract):
    """`stats.json` in `paths.processed`: the train images' per-channel mean/std and the RGB
    covariance's eigenvalues/vectors for PCA lighting (preprocess -> train)."""

    mean: list[float]
    std: list[float]
    pixels: int
    eigenvalues: list[float]
    eigenvectors: list[list[float]]
    image_size: int


class ShardLayout(Contract):
    """`shards.json` in `paths.processed`: how the shards store images (preprocess -> train,
    evaluate, export)."""

    encoding: Literal["jpeg", "raw"]
    resize: Literal["paper", "crop", "squash", "pad"]
    image_size: int
    stored_size: int
    jpeg_quality: int


class SplitCounts(RootModel[Counts]):
    """`splits.json` in `paths.processed`: images per split and class (preprocess -> train, report)."""


class SplitRow(Contract):
    """One row of `split_table.csv` in `paths.processed`: an image (its path in `paths.raw`) and the
    split preprocess put it in (preprocess -> gate), so that a later stage reads the split the
    shards hold instead of computing it again."""

    path: str
    split: SplitName
    label: str


class TrainSummary(Contract):
    """`summary.json` in `paths.train_logs` (train -> evaluate, report)."""

    recipe: str
    epochs: int
    epochs_run: int
    resumed_from_epoch: int
    stopped_early: bool
    best_epoch: int
    best_loss: float | None
    wall_time_s: float
    images_per_s: float
    devices: list[str]
    replicas: int
    workers: int
    precision: str
    precision_reason: str
    batch_size: int
    learning_rate: float
    optimizer: str


class ModelSummary(Contract):
    """`model.json` in `paths.train_logs`: the layers and parameter counts (train -> report)."""

    model_config = ConfigDict(extra="allow", frozen=True)  # parameter totals
    name: str
    layers: list[dict[str, Any]]


class ScoredModel(Contract):
    """Which saved model evaluate scored, from which epoch."""

    choice: Literal["best", "last"]
    path: str
    epoch: int
    epochs_run: int
    best_epoch: int | None
    best_loss: float | None


class EvaluationMetrics(Contract):
    """`paths.metrics` (evaluate -> report, the flow, `dvc metrics`)."""

    accuracy: float
    loss: float
    top5_accuracy: float | None = None  # 5 classes or more
    macro_f1: float
    weighted_f1: float
    num_examples: int
    per_class: dict[str, dict[str, float | int]]
    confusion_matrix: list[list[int]]
    confusion_matrix_normalized: list[list[float]]
    ten_crop: dict[str, float] | None = None  # with evaluate.ten_crop
    roc_auc: float | None = None  # two classes
    average_precision: float | None = None  # two classes
    classes: list[str]
    model: ScoredModel


class BlessedVersion(Contract):
    """`version.json` in `paths.blessed`: the blessed model's version and what it was blessed on
    (gate -> gate's next run, export, `alexnet models`/`predict`)."""

    version: str  # GTO's SemVer, vN.0.0 for the N-th blessed model
    number: int
    weights_sha256: str  # a candidate with the same weights is this model again, not a new version
    classes: list[str]
    image_size: int
    accuracy: float
    loss: float
    images: int


class ModelFigures(Contract):
    """One model's test figures on this run's test split, as the gate compares them."""

    version: str | None
    accuracy: float
    loss: float
    per_class_recall: dict[str, float]


class DriftSummary(Contract):
    drifted: bool
    findings: list[str]
    on_drift: Literal["warn", "fail"]


class GateDecision(Contract):
    """`paths.gate` (gate -> report, the flow, `alexnet models register`)."""

    status: Literal["promoted", "rejected", "already blessed"]
    promoted: bool  # this run's model became the blessed (serving, production) model
    message: str
    reasons: list[str]  # why it was rejected; empty when it passed
    checks: list[dict[str, Any]]  # every check: name, passed, detail
    candidate: ModelFigures
    blessed: ModelFigures | None  # the blessed model before this run, rescored on this run's test split
    blessed_note: str  # how the blessed model was compared (or why it could not be)
    serving_version: str | None  # the blessed version after this run: what export serves
    thresholds: dict[str, float | None]
    on_reject: Literal["warn", "fail"]
    drift: DriftSummary


class DriftReport(Contract):
    """`paths.drift` (gate -> report, the flow): this dataset against the blessed model's."""

    reference: dict[str, Any] | None  # the blessed version's dataset; None before the first blessing
    current: dict[str, Any]
    drifted: bool
    findings: list[str]
    on_drift: Literal["warn", "fail"]
    classes: dict[str, list[str]] | None = None
    class_balance: dict[str, Any] | None = None
    distributions: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    leakage: dict[str, Any] | None = None
    embedding: dict[str, Any] | None = None


M = TypeVar("M", bound=BaseModel)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"`{where}` {error['msg'].lower()}" if where else error["msg"].lower()


def read_contract(model: type[M], path: Path) -> M:
    """Load `path` as `model`; a missing or malformed file is a `ContractError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"{path}: not found; run the earlier stages first (dvc repro)") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise ContractError(f"{path}: not valid: {_first_problem(exc)}; rerun the stage that writes it "
                            "(dvc repro --force STAGE)") from None


def write_contract(path: Path, model: type[M], data: Any) -> M:
    """Check `data` against `model`, then write it as indented JSON, atomically, exactly as given
    (key order included); a mismatch is a bug in the writer, named with its file."""
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"{path}: refusing to write it: {_first_problem(exc)}") from None
    atomic.write_json(path, data)
    return value


def _columns(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _invalid(path: Path, problem: str) -> ContractError:
    return ContractError(f"{path}: not valid: {problem}; rerun the stage that writes it "
                         "(dvc repro --force STAGE)")


def read_rows(model: type[M], path: Path) -> list[M]:
    """Load the CSV table `path`, one `model` per row; a missing file, a header other than the
    model's fields (an unknown or a missing column) or a malformed value is a `ContractError`
    naming the file (and the line and field)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        absent = f"{path}: not found; run the earlier stages first (dvc repro)"
        raise ContractError(absent) from None
    reader = csv.DictReader(io.StringIO(text))
    header, expected = reader.fieldnames or [], _columns(model)
    problems = ([f"unknown column `{name}`" for name in header if name not in expected]
                + [f"missing column `{name}`" for name in expected if name not in header])
    if problems:
        raise _invalid(path, ", ".join(problems))
    rows = []
    for line, row in enumerate(reader, start=2):
        if None in row or None in row.values():
            raise _invalid(path, f"line {line} does not have {len(expected)} values, one a column")
        try:
            rows.append(model.model_validate(row))
        except ValidationError as exc:
            raise _invalid(path, f"line {line}: {_first_problem(exc)}") from None
    return rows


def write_rows(path: Path, model: type[M], rows: Iterable[Mapping[str, Any]]) -> list[M]:
    """Check every row against `model`, then write them as CSV (a header of the model's fields,
    in their order), atomically; a mismatch is a bug in the writer, named with its file."""
    checked = []
    for number, row in enumerate(rows, start=1):
        try:
            checked.append(model.model_validate(row))
        except ValidationError as exc:
            problem = _first_problem(exc)
            raise ContractError(f"{path}: refusing to write row {number}: {problem}") from None
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(model), lineterminator="\n")
    writer.writeheader()
    writer.writerows(row.model_dump(mode="json") for row in checked)
    atomic.write_text(path, buffer.getvalue())
    return checked
