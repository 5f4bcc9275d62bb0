"""Charts for the report, rendered with matplotlib (Agg) to base64 PNG data URIs."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def _to_data_uri(figure: plt.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def training_curves(history: dict[str, dict[str, list[tuple[int, float]]]]) -> str:
    """Loss and accuracy per epoch; `history[metric][split]` is a list of (epoch, value)."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        for split, points in sorted(history.get(metric, {}).items()):
            epochs = [step + 1 for step, _ in points]
            axis.plot(epochs, [value for _, value in points], marker="o", label=split)
        axis.set_title(metric)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    return _to_data_uri(figure)


def confusion_heatmap(matrix: list[list[int]], classes: list[str]) -> str:
    """Confusion matrix as a heatmap: rows true class, columns predicted, cells show counts."""
    counts = np.asarray(matrix)
    size = max(3.5, 0.6 * len(classes) + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(counts, cmap="Blues")
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        axis.text(col, row, str(value), ha="center", va="center",
                  color="white" if value > threshold else "black")
    figure.colorbar(image, ax=axis, fraction=0.046)
    return _to_data_uri(figure)


def _paired_bars(axis, reference: dict, current: dict, names: list[str], reference_label: str, title: str) -> None:
    """Counts per name of both versions side by side: the reference left, this run right."""
    positions = np.arange(len(names))
    for offset, counts, label in ((-0.2, reference, reference_label), (0.2, current, "this run")):
        axis.bar(positions + offset, [counts.get(name, 0) for name in names], width=0.4, label=label)
    axis.set_xticks(positions, names, rotation=45, ha="right")
    axis.set_title(title)
    axis.legend()


def _overlaid_histogram(axis, histogram: dict, title: str) -> None:
    """Both versions' shares per bin, the reference filled; an empty one leaves the panel bare."""
    if histogram["edges"]:
        for version in ("reference", "current"):
            axis.stairs(histogram[version], histogram["edges"], label=version, fill=version == "reference",
                        alpha=0.4 if version == "reference" else 1.0)
        axis.legend()  # an empty panel has nothing to label (matplotlib would warn)
    axis.set_title(title)


def drift_charts(drift: dict) -> str:
    """Images per class in both versions, and the brightness, width and height distributions of
    both overlaid (the shares of each version's images per bin)."""
    figure, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    balance = drift["class_balance"]
    _paired_bars(axes[0], balance["reference"], balance["current"],
                 sorted(set(balance["reference"]) | set(balance["current"])),
                 f"reference ({drift['reference']['version']})", "images per class")
    for axis, name in zip(axes[1:], ("brightness", "width", "height")):
        _overlaid_histogram(axis, drift["distributions"][name]["histogram"], f"{name} (share of images)")
    return _to_data_uri(figure)


def prediction_charts(predictions: dict, version: str) -> str:
    """The blessed model's predictions on its own data (`version`) and on this run's: images per
    predicted class, and the top-1 confidence of both overlaid (the shares of each sample per bin)."""
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    classes = predictions["classes"]
    _paired_bars(axes[0], classes["reference"], classes["current"], list(classes["reference"]),
                 f"reference ({version})", "predicted class (sampled images)")
    _overlaid_histogram(axes[1], predictions["confidence"]["histogram"], "top-1 confidence (share of images)")
    return _to_data_uri(figure)
