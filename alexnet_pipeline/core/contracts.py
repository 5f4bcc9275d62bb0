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
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

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
    source: Literal["sample", "local", "kaggle"] = Field(
        description="data.source: the built-in sample generator, a local folder or archive, "
                    "or a Kaggle dataset")


class DatasetLayout(Contract):
    """`layout.json` in `paths.raw`: where the images came from and how many (download -> validate, report)."""

    model_config = ConfigDict(extra="allow", frozen=True)  # the source record's identity comes along
    source: Literal["sample", "local", "kaggle"] = Field(
        description="the data source the images came from")
    splits: Counts = Field(
        description="images downloaded per split and class, {split: {class: images}}")
    classes: list[str] = Field(description="class names found in any split, sorted")
    rejected: Annotated[list[dict[str, str]], Field(
        description="files download refused to read (links leaving the dataset): "
                    "path, split, label, reason")] = []


class ValidationReport(Contract):
    """`paths.validation_report` (validate -> report, the flow)."""

    success: bool = Field(
        description="true when no file is invalid and every expectation passed")
    policies: dict[str, str] = Field(
        description="validate.on_invalid, on_duplicate and on_leakage as applied")
    counts: dict[str, Any] = Field(
        description="files, invalid, duplicates, leaked, dropped and usable images, and usable "
                    "images per split and class (by_split)")
    invalid: list[dict[str, str]] = Field(
        description="files that failed a file check: path and reason")
    duplicates: list[dict[str, Any]] = Field(
        description="files identical to an earlier one in the same split: "
                    "path, split, same_as, dropped")
    leakage: list[dict[str, Any]] = Field(
        description="val/test files identical to one in an earlier split: "
                    "path, split, same_as, dropped")
    expectations: list[dict[str, Any]] = Field(
        description="great-expectations file and content checks: expectation, column, "
                    "success, unexpected_count, description")
    class_expectations: list[dict[str, Any]] = Field(
        description="per-class checks on the usable images, as expectations, with the "
                    "failing classes and their values")
    data_docs: Annotated[str | None, Field(
        description="path of the great-expectations Data Docs page, index.html in "
                    "paths.data_docs")] = None


class ClassNames(RootModel[list[str]]):
    """`classes.json` (preprocess -> train) and `paths.labels` (train -> evaluate, export, predict):
    class names by class id."""


class ImageStats(Contract):
    """`stats.json` in `paths.processed`: the train images' per-channel mean/std and the RGB
    covariance's eigenvalues/vectors for PCA lighting (preprocess -> train)."""

    mean: list[float] = Field(
        description="mean of each RGB channel over the sampled train pixels, 0..255")
    std: list[float] = Field(
        description="standard deviation of each RGB channel over the sampled train pixels, 0..255")
    pixels: int = Field(
        description="train pixels sampled for the statistics, one in 4 x 4 of each image")
    eigenvalues: list[float] = Field(
        description="eigenvalues of the RGB covariance, largest first, in 0..255 units squared")
    eigenvectors: list[list[float]] = Field(
        description="the 3 x 3 matrix, row by row, whose columns are the unit eigenvectors "
                    "in eigenvalue order")
    image_size: int = Field(description="network input side the shards were made for, pixels")


class ShardLayout(Contract):
    """`shards.json` in `paths.processed`: how the shards store images (preprocess -> train,
    evaluate, export)."""

    encoding: Literal["jpeg", "raw"] = Field(
        description="how the shards store pixels: JPEG bytes or raw uint8")
    resize: Literal["paper", "crop", "squash", "pad"] = Field(
        description="preprocess.resize: how images were made square")
    image_size: int = Field(description="network input side, pixels")
    stored_size: int = Field(
        description="side of the square images stored in the shards, pixels; "
                    "larger than image_size for paper")
    jpeg_quality: int = Field(
        description="the JPEG quality of the stored images, 1..100 (encoding: jpeg)")


class SplitCounts(RootModel[Counts]):
    """`splits.json` in `paths.processed`: images per split and class (preprocess -> train, report)."""


class SplitRow(Contract):
    """One row of `split_table.csv` in `paths.processed`: an image (its path in `paths.raw`) and the
    split preprocess put it in (preprocess -> gate), so that a later stage reads the split the
    shards hold instead of computing it again."""

    path: str = Field(description="the image's path relative to paths.raw")
    split: SplitName = Field(description="the split preprocess put the image in")
    label: str = Field(description="the image's class name")


class PredictionRow(Contract):
    """A row of `predictions.csv` in `paths.eval_plots`: one test image's prediction
    (evaluate -> gate, report)."""

    path: str = Field(description="the image's path relative to paths.raw")
    actual: str = Field(description="its class name")
    predicted: str = Field(description="the most probable class")
    p_predicted: float = Field(description="the predicted class's probability")
    p_actual: float = Field(description="the true class's probability")


class TrainSummary(Contract):
    """`summary.json` in `paths.train_logs` (train -> evaluate, report)."""

    recipe: str = Field(description="train.recipe: custom or paper")
    epochs: int = Field(description="epochs configured, train.epochs")
    epochs_run: int = Field(
        description="epochs trained in all, an interrupted run's included")
    resumed_from_epoch: int = Field(
        description="epoch an interrupted run was resumed from; 0 for a fresh run")
    stopped_early: bool = Field(
        description="true when early stopping ended training before train.epochs")
    best_epoch: int = Field(
        description="epoch with the lowest val loss (train loss without a val split), "
                    "from 1; 0 when no loss was finite")
    best_loss: float | None = Field(
        description="that epoch's loss; null when no loss was finite")
    wall_time_s: float = Field(
        description="seconds this run of the stage spent training, since a resume if any")
    images_per_s: float = Field(
        description="train images per second over the epochs this run of the stage trained")
    devices: list[str] = Field(
        description="the GPUs TensorFlow trained on, by device name, or CPU without one")
    replicas: int = Field(
        description="model replicas trained in sync, all workers together")
    workers: int = Field(
        description="machines in the multi-worker cluster; 1 when training alone")
    precision: str = Field(
        description="the Keras dtype policy trained in: float32, mixed_float16 or mixed_bfloat16")
    precision_reason: str = Field(
        description="why that policy: the train.mixed_precision setting, or what auto found")
    batch_size: int = Field(
        description="images per training step, split among the devices, after the recipe")
    learning_rate: float = Field(
        description="the optimizer's base learning rate, after the recipe")
    optimizer: str = Field(description="the optimizer after the recipe: sgd or adam")
    input_cache: Literal["memory", "off"] = Field(
        description="memory: the train split was decoded once and every epoch cropped from memory; "
                    "off: every epoch streamed the shards, decoding its crops (the same batches either way)")
    input_cache_reason: str = Field(
        description="why: the train.cache setting, or what auto found (the decoded size against the memory budget)")


class ModelSummary(Contract):
    """`model.json` in `paths.train_logs`: the layers and parameter counts (train -> report)."""

    model_config = ConfigDict(extra="allow", frozen=True)  # parameter totals
    name: str = Field(description="the Keras model's name")
    layers: list[dict[str, Any]] = Field(
        description="every layer in order: name, type, output_shape without the batch axis, params")


class ScoredModel(Contract):
    """`model` in `paths.metrics`: which saved model evaluate scored, from which epoch."""

    choice: Literal["best", "last"] = Field(
        description="evaluate.model: the best epoch's model or the last epoch's")
    path: str = Field(description="path of the scored model file, paths.best_model or paths.model")
    epoch: int = Field(description="epoch the scored model is from, counted from 1")
    epochs_run: int = Field(
        description="epochs the training run trained, from train's summary.json")
    best_epoch: int | None = Field(
        description="epoch with the lowest val loss, from 1; null when no loss was finite")
    best_loss: float | None = Field(
        description="that epoch's loss; null when no loss was finite")


class EvaluationMetrics(Contract):
    """`paths.metrics` (evaluate -> report, the flow, `dvc metrics`)."""

    accuracy: float = Field(
        description="test accuracy, 0..1, over ten crops with evaluate.ten_crop")
    loss: float = Field(description="mean cross-entropy on the test split")
    top5_accuracy: Annotated[float | None, Field(
        description="share of test images whose class is among the 5 most probable, 0..1; "
                    "with 5 classes or more")] = None
    macro_f1: float = Field(description="unweighted mean of the per-class F1 scores, 0..1")
    weighted_f1: float = Field(
        description="mean of the per-class F1 scores weighted by support, 0..1")
    num_examples: int = Field(description="test images scored")
    per_class: dict[str, dict[str, float | int]] = Field(
        description="by class name: precision, recall and f1 (0..1) and support (test images)")
    confusion_matrix: list[list[int]] = Field(
        description="test images by true class (rows) and predicted class (columns), "
                    "in class id order")
    confusion_matrix_normalized: list[list[float]] = Field(
        description="the confusion matrix with each row divided by its total, 0..1")
    ten_crop: Annotated[dict[str, float] | None, Field(
        description="with evaluate.ten_crop: the centre crop's accuracy and loss, and the "
                    "ten crops' accuracy gain over it")] = None
    roc_auc: Annotated[float | None, Field(
        description="area under the ROC curve of the second class, 0..1; two classes only, "
                    "null when the test split lacks one")] = None
    average_precision: Annotated[float | None, Field(
        description="average precision of the second class, 0..1; two classes only, "
                    "null when the test split lacks one")] = None
    classes: list[str] = Field(description="class names by class id")
    model: ScoredModel = Field(description="which saved model was scored")


class BlessedVersion(Contract):
    """`version.json` in `paths.blessed`: the blessed model's version and what it was blessed on
    (gate -> gate's next run, export, `alexnet models`/`predict`)."""

    version: str = Field(
        description="the version in GTO's SemVer form, vN.0.0 for the N-th blessed model")
    number: int = Field(
        description="how many models have been blessed, this one included")
    weights_sha256: str = Field(
        description="SHA-256 of the model's weights, hex; a candidate with the same weights "
                    "is this model again, not a new version")
    classes: list[str] = Field(
        description="class names by class id the model was trained on")
    image_size: int = Field(description="network input side, pixels")
    accuracy: float = Field(description="test accuracy when blessed, 0..1")
    loss: float = Field(description="test cross-entropy loss when blessed")
    images: int = Field(description="images of the dataset it was blessed on, all splits")
    data_fingerprint: Annotated[str | None, Field(
        description="SHA-256 of the dataset it was blessed on (each image's split, class and "
                    "content hash): its data version; null in stores blessed before it existed")] = None


class ModelFigures(Contract):
    """`candidate` and `blessed` in `paths.gate`: one model's test figures on this run's test
    split, as the gate compares them."""

    version: str | None = Field(
        description="the model's blessed version; null for a candidate that was not promoted")
    accuracy: float = Field(description="test accuracy on this run's test split, 0..1")
    loss: float = Field(description="test cross-entropy loss on this run's test split")
    per_class_recall: dict[str, float] = Field(description="test recall by class name, 0..1")


class DriftSummary(Contract):
    """`drift` in `paths.gate`: the drift findings of `paths.drift` the gate acted on."""

    drifted: bool = Field(description="true when any kind of drift was found")
    findings: list[str] = Field(
        description="one line per kind of drift found; empty when none")
    on_drift: Literal["warn", "fail"] = Field(
        description="drift.on_drift: warn reports drift, fail blocks promotion")


class PairedComparison(Contract):
    """`comparison` in `paths.gate`: candidate and blessed model scored on the same test images,
    image by image."""

    images: int = Field(description="test images both models were scored on")
    difference: float = Field(description="candidate's accuracy minus the blessed model's, -1..1")
    interval: list[float] = Field(
        description="bootstrap interval of the difference over the images, [low, high], at `confidence`")
    confidence: float = Field(description="the interval's level, 1 - gate.alpha")
    resamples: int = Field(description="bootstrap resamples behind the interval (gate.resamples)")
    candidate_only: int = Field(description="images only the candidate classifies right")
    blessed_only: int = Field(description="images only the blessed model classifies right")
    test: Literal["McNemar exact"] = Field(description="the paired test behind p_value")
    p_value: float = Field(
        description="two-sided p-value of \"both are equally accurate\" from the disagreements")


class GateDecision(Contract):
    """`paths.gate` (gate -> report, the flow, `alexnet models register`)."""

    status: Literal["promoted", "rejected", "already blessed"] = Field(
        description="the decision; already blessed: the candidate has the blessed model's weights")
    promoted: bool = Field(
        description="true when this run's model became the blessed (serving, production) model")
    message: str = Field(description="the decision in one sentence")
    reasons: list[str] = Field(
        description="why the candidate was rejected, one per failed check; empty when it passed")
    checks: list[dict[str, Any]] = Field(description="every check: name, passed, detail")
    candidate: ModelFigures = Field(description="this run's model's figures")
    blessed: ModelFigures | None = Field(
        description="the blessed model before this run, rescored on this run's test split; "
                    "null when nothing was blessed or it could not be compared")
    blessed_note: str = Field(
        description="how the blessed model was compared, or why it could not be")
    comparison: PairedComparison | None = Field(
        description="the paired comparison behind the regression check; null without a comparable blessed model")
    serving_version: str | None = Field(
        description="the blessed version after this run, which export serves; "
                    "null when nothing is blessed")
    thresholds: dict[str, float | None] = Field(
        description="gate.min_accuracy, min_class_recall (null: off), max_regression and alpha as applied")
    on_reject: Literal["warn", "fail"] = Field(
        description="gate.on_reject: whether a rejection only warns or fails the run")
    drift: DriftSummary = Field(description="the drift findings the gate took into account")


class HistoryEvent(Contract):
    """One line of `paths.history`: a gate decision or a rollback (gate, `alexnet models
    rollback` -> `alexnet models history`, the next gate)."""

    time: str = Field(description="when it happened, ISO 8601 in UTC")
    event: Literal["gate", "rollback"] = Field(description="a gate decision or a rollback")
    outcome: Literal["promoted", "rejected", "already blessed", "rolled back"] = Field(
        description="the gate's status, or rolled back")
    version: str | None = Field(
        description="the version it is about: the promoted candidate's or the one rolled back to; "
                    "null for a candidate that was not promoted")
    serving_version: str | None = Field(description="the blessed (serving) version after it")
    data_fingerprint: str | None = Field(
        description="the data version: the candidate's dataset, or the dataset the version rolled back to was blessed on")
    accuracy: float | None = Field(description="the candidate's test accuracy, or the rolled-back-to version's when blessed")
    weights_sha256: str | None = Field(description="the candidate's (or the rolled-back-to version's) weights digest")
    replaced: str | None = Field(
        description="a rollback: the version it took out of serving; its weights are never promoted again")
    replaced_weights_sha256: str | None = Field(description="a rollback: the replaced version's weights digest")
    message: str = Field(description="the gate's message, or the rollback's reason")


class ModelCard(Contract):
    """`model_card.json` in `paths.blessed` (rendered as `paths.model_card`): what a blessed
    version is for, what data it saw, how well it does with what uncertainty, how it was trained
    and its known limits (gate -> report, `alexnet models card`)."""

    version: str = Field(description="the blessed version, vN.0.0")
    blessed_at: str = Field(description="when the gate blessed it, ISO 8601 in UTC")
    intended_use: str = Field(description="what the model is for, and what it is not for")
    data: dict[str, Any] = Field(
        description="source, dataset, data_fingerprint, images, and counts by split and class")
    metrics: dict[str, Any] = Field(
        description="test accuracy with its interval and confidence, loss, top5_accuracy, "
                    "macro_f1, images, and per class: recall with its interval, precision, support")
    training: dict[str, Any] = Field(
        description="the recipe (model and train params), epochs run, the scored epoch, precision and hardware")
    findings: dict[str, Any] = Field(
        description="drift findings against the previous blessed data, leakage across versions and within this one")
    gate: dict[str, Any] = Field(description="the gate's message and its paired comparison (null for the first)")
    limits: list[str] = Field(description="known limits, one sentence each")


class DriftReport(Contract):
    """`paths.drift` (gate -> report, the flow): this dataset against the blessed model's."""

    reference: dict[str, Any] | None = Field(
        description="the blessed version's dataset: version, images, classes; "
                    "null before the first blessing")
    current: dict[str, Any] = Field(description="this run's dataset: images and classes")
    drifted: bool = Field(description="true when any kind of drift was found")
    findings: list[str] = Field(
        description="one line per kind of drift found; empty when none")
    on_drift: Literal["warn", "fail"] = Field(
        description="drift.on_drift: warn reports drift, fail blocks promotion")
    classes: Annotated[dict[str, list[str]] | None, Field(
        description="class names added and removed since the blessed version; "
                    "null without one")] = None
    class_balance: Annotated[dict[str, Any] | None, Field(
        description="chi-square test of images per class, effect the total variation distance, "
                    "with both versions' counts; null without a blessed version")] = None
    distributions: Annotated[dict[str, Any] | None, Field(
        description="two-sample KS tests of image width, height and brightness with summaries and "
                    "histograms, and a chi-square test of formats; null without a blessed "
                    "version")] = None
    files: Annotated[dict[str, Any] | None, Field(
        description="files by path added, removed, changed and unchanged, with examples; "
                    "null without a blessed version")] = None
    leakage: Annotated[dict[str, Any] | None, Field(
        description="new train images identical to the blessed version's test images: "
                    "count and examples; null without a blessed version")] = None
    embedding: Annotated[dict[str, Any] | None, Field(
        description="maximum mean discrepancy test of the blessed model's embeddings of a "
                    "sample of both versions, with the sample sizes; null without a blessed "
                    "version")] = None
    predictions: Annotated[dict[str, Any] | None, Field(
        description="label-free: the blessed model's own predictions on both embedding samples: "
                    "chi-square test of the predicted-class counts (effect the total variation "
                    "distance) and KS test of the top-1 confidence, with both count tables, "
                    "summaries and a histogram, and the sample sizes; null without a blessed "
                    "version")] = None
    gallery: Annotated[list[dict[str, Any]] | None, Field(
        description="the 12 sampled images farthest from the blessed version's sample in embedding "
                    "space (mean distance to the 5 nearest), most atypical first: path, predicted "
                    "class, confidence, distance and thumbnail (a file in paths.drift_gallery); "
                    "empty without a blessed version")] = None


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
