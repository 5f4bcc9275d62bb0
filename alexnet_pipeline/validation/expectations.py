"""The great-expectations suites run over the image manifest.

Suites: per-file rules over the manifest (decodable, allowed format, side limits, known split,
label present in train); content rules (no duplicate within a split, no content shared between
splits); per-class rules over the train class counts (minimum images, maximum imbalance); and
each split's label set against train's. Thresholds come from `validate` in params.yaml.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from alexnet_pipeline.config import ValidateConfig
from alexnet_pipeline.sources.layout import SPLITS

# No usage statistics leave the machine (and no network wait when offline).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx
from great_expectations.checkpoint import UpdateDataDocsAction

log = logging.getLogger(__name__)
DOCS_SITE = "validation"


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
        (E.ExpectColumnValuesToBeBetween(column="imbalance", max_value=cfg.max_class_imbalance),
         (f"the largest train class at most validate.max_class_imbalance "
         f"({cfg.max_class_imbalance:g}) times this class's size")),
    ]


def _quiet_gx_logging() -> None:
    """GX sets INFO on its own loggers; keep its chatter out of the stage log."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)


class Suites:
    """Runs the stage's suites in one in-memory GX context; with `docs_dir`, each run also adds
    its results to GX Data Docs built there (open `index.html`)."""

    def __init__(self, docs_dir: Path | None = None) -> None:
        _quiet_gx_logging()
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False}
        _quiet_gx_logging()
        self.actions = []
        if docs_dir is not None:
            self.context.add_data_docs_site(DOCS_SITE, {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(Path(docs_dir).resolve())},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
            self.actions = [UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])]

    def run(self, name: str, frame: pd.DataFrame, index_column: str,
            expectations: list[tuple[Any, str]]) -> list[ExpectationOutcome]:
        """Run one suite over `frame`; failing rows are named by `index_column`."""
        context = self.context
        asset = context.data_sources.add_pandas(name).add_dataframe_asset(name)
        batch = asset.add_batch_definition_whole_dataframe(name)
        suite = context.suites.add(gx.ExpectationSuite(name=name))
        descriptions = {}
        for expectation, description in expectations:
            added = suite.add_expectation(expectation)
            descriptions[added.id] = description
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=name, validation_definitions=[definition], actions=self.actions,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [index_column]}))
        [result] = checkpoint.run(batch_parameters={"dataframe": frame}).run_results.values()
        return [_outcome(item, index_column, descriptions) for item in result.results]


def _outcome(item: Any, index_column: str, descriptions: dict[str, str]) -> ExpectationOutcome:
    config = item.expectation_config
    if item.exception_info and item.exception_info.get("raised_exception"):
        raise RuntimeError(f"expectation {config.type} failed to run: {item.exception_info}")
    columns = config.kwargs.get("column_list") or [config.kwargs.get("column")]
    column = ",".join(c for c in columns if c)
    failing = [(str(row[index_column]), row.get(columns[-1]))  # a compound key: its last column
               for row in item.result.get("unexpected_index_list") or []]
    return ExpectationOutcome(
        expectation=config.type, column=column, success=bool(item.success),
        unexpected_count=int(item.result.get("unexpected_count") or 0), failing=failing,
        description=descriptions.get(config.id, ""))


def check_files(manifest: pd.DataFrame, cfg: ValidateConfig, suites: Suites | None = None
                ) -> list[ExpectationOutcome]:
    """Per-file rules over the whole manifest; each outcome names its failing paths."""
    train_labels = sorted(manifest.loc[manifest["split"] == "train", "label"].unique())
    return (suites or Suites()).run("image_manifest", manifest, "path",
                                    _file_expectations(cfg, train_labels))


def check_content(usable: pd.DataFrame, suites: Suites | None = None) -> list[ExpectationOutcome]:
    """No identical files within a split; none shared between splits (leakage).

    Leakage is judged on one copy per split and content, so a duplicate inside a split is not
    also counted as a leak."""
    E = gx.expectations
    frame = usable[["path", "split", "sha256"]].reset_index(drop=True)
    one_per_split = frame.drop_duplicates(["split", "sha256"]).reset_index(drop=True)
    suites = suites or Suites()
    duplicates = suites.run("duplicates_within_splits", frame, "path", [
        (E.ExpectCompoundColumnsToBeUnique(column_list=["split", "sha256"]),
         "no two files with the same content in one split")])
    leakage = suites.run("leakage_between_splits", one_per_split, "path", [
        (E.ExpectColumnValuesToBeUnique(column="sha256"),
         "no content in more than one split (train/val/test leakage)")])
    return duplicates + leakage


def check_classes(usable: pd.DataFrame, cfg: ValidateConfig, suites: Suites | None = None
                  ) -> list[ExpectationOutcome]:
    """Per-class rules over the train class counts of `usable` (the files that will be used),
    and that every train class has images in each other split present (val, test).

    Every label of any split is counted, so a class left with no train images (say, all of
    them quarantined) counts 0 instead of vanishing from the check.
    """
    suites = suites or Suites()
    labels = sorted(usable["label"].unique())
    counts = (usable[usable["split"] == "train"].groupby("label").size()
              .reindex(labels, fill_value=0).rename("count").rename_axis("label").reset_index())
    largest = max(int(counts["count"].max()), 1) if len(counts) else 1
    counts["imbalance"] = [largest / n if n else float("inf") for n in counts["count"]]
    outcomes = suites.run("class_counts", counts, "label", _class_expectations(cfg))
    train_labels = sorted(usable.loc[usable["split"] == "train", "label"].unique())
    other_splits = [s for s in SPLITS[1:] if (usable["split"] == s).any()]
    if other_splits and train_labels:
        present = (usable.groupby(["split", "label"]).size()
                   .reindex(pd.MultiIndex.from_product([other_splits, train_labels], names=["split", "label"]),
                            fill_value=0).rename("images").reset_index())
        present["split/class"] = present["split"] + "/" + present["label"]
        E = gx.expectations
        outcomes += suites.run("classes_in_every_split", present, "split/class", [
            (E.ExpectColumnValuesToBeBetween(column="images", min_value=1),
             f"every train class has images in {' and '.join(other_splits)}")])
    return outcomes
