"""The training curves' data: dvclive's per-epoch TSVs of the train logs, by metric and split."""

from __future__ import annotations

import csv
from pathlib import Path

HISTORY_SPLITS = {"train": "train", "eval": "val"}  # dvclive folder -> name shown


def read_history(train_logs: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """dvclive's per-epoch TSVs (`plots/metrics/<train|eval>/<metric>.tsv`) as {metric: {split: points}}."""
    history: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for folder, split in HISTORY_SPLITS.items():
        for tsv in sorted((train_logs / "plots" / "metrics" / folder).glob("*.tsv")):
            with tsv.open(newline="") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            points = [(int(row["step"]), float(row[tsv.stem])) for row in rows]
            history.setdefault(tsv.stem, {})[split] = points
    return history
