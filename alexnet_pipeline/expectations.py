"""The great-expectations suites run over the image manifest.

Two suites: per-file rules over the manifest (decodable, allowed format, side limits, known
split, label present in train), and per-class rules over the class counts of the train split
(minimum images per class). Thresholds come from `validate` in params.yaml.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from alexnet_pipeline.config import ValidateConfig
from alexnet_pipeline.layout import SPLITS

# No usage statistics leave the machine (and no network wait when offline).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx

log = logging.getLogger(__name__)


@dataclass
class ExpectationOutcome:
    """One expectation's result, flattened for `validation.json`."""

    expectation: str
    column: str | None
    success: bool
    unexpected_count: int
    failing: list[tuple[str, Any]] = field(default_factory=list)  # (index value, offending value)
    description: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"expectation": self.expectation, "column": self.column, "success": self.success,
                "unexpected_count": self.unexpected_count, "description": self.description}


def _file_expectations(cfg: ValidateConfig, train_labels: list[str]) -> list[tuple[Any, str]]:
    E = gx.expectations
    return [
        (E.ExpectColumnValuesToBeInSet(column="ok", value_set=[True]), "the file decodes"),
        (E.ExpectColumnValuesToBeInSet(column="format", value_set=list(cfg.allowed_formats)),
         f"a format in validate.allowed_formats ({', '.join(cfg.allowed_formats)})"),
        (E.ExpectColumnValuesToBeBetween(column="width", min_value=cfg.min_side, max_value=cfg.max_side),
         f"validate.min_side <= width <= validate.max_side ({cfg.min_side}..{cfg.max_side})"),
        (E.ExpectColumnValuesToBeBetween(column="height", min_value=cfg.min_side, max_value=cfg.max_side),
         f"validate.min_side <= height <= validate.max_side ({cfg.min_side}..{cfg.max_side})"),
        (E.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)), "train, val or test"),
        (E.ExpectColumnValuesToBeInSet(column="label", value_set=train_labels),
         "a class that has images in the train split"),
        (E.ExpectColumnValuesToNotBeNull(column="sha256"), "a readable file"),
    ]


def _class_expectations(cfg: ValidateConfig) -> list[tuple[Any, str]]:
    E = gx.expectations
    return [
        (E.ExpectColumnValuesToBeBetween(column="count", min_value=cfg.min_images_per_class),
         f"at least validate.min_images_per_class ({cfg.min_images_per_class}) train images"),
    ]


def _run_suite(context: Any, name: str, frame: pd.DataFrame, index_column: str,
               expectations: list[tuple[Any, str]]) -> list[ExpectationOutcome]:
    """Run one suite over `frame`; failing rows are named by `index_column`."""
    asset = context.data_sources.add_pandas(name).add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    descriptions = {}
    for expectation, description in expectations:
        added = suite.add_expectation(expectation)
        descriptions[added.id] = description
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch,
                                                                            suite=suite))
    result = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [index_column]},
    )
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        if item.exception_info and item.exception_info.get("raised_exception"):
            raise RuntimeError(f"expectation {config.type} failed to run: {item.exception_info}")
        column = config.kwargs.get("column")
        failing = [(str(row[index_column]), row.get(column))
                   for row in item.result.get("unexpected_index_list") or []]
        outcomes.append(ExpectationOutcome(
            expectation=config.type, column=column, success=bool(item.success),
            unexpected_count=int(item.result.get("unexpected_count") or 0),
            failing=failing, description=descriptions.get(config.id, ""),
        ))
    return outcomes


def _quiet_gx_logging() -> None:
    """GX sets INFO on its own loggers; keep its chatter out of the stage log."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _context() -> Any:
    """An in-memory GX context without progress bars."""
    _quiet_gx_logging()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    _quiet_gx_logging()
    return context


def check_files(manifest: pd.DataFrame, cfg: ValidateConfig) -> list[ExpectationOutcome]:
    """Per-file rules over the whole manifest; each outcome names its failing paths."""
    train_labels = sorted(manifest.loc[manifest["split"] == "train", "label"].unique())
    return _run_suite(_context(), "image_manifest", manifest, "path",
                      _file_expectations(cfg, train_labels))


def check_classes(manifest: pd.DataFrame, cfg: ValidateConfig) -> list[ExpectationOutcome]:
    """Per-class rules over the train class counts of `manifest` (the files that will be used).

    Every label of any split is counted, so a class left with no train images (say, all of
    them quarantined) counts 0 instead of vanishing from the check.
    """
    labels = sorted(manifest["label"].unique())
    counts = (manifest[manifest["split"] == "train"].groupby("label").size()
              .reindex(labels, fill_value=0).rename("count").rename_axis("label").reset_index())
    return _run_suite(_context(), "class_counts", counts, "label", _class_expectations(cfg))
