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


def drift_charts(drift: dict) -> str:
    """Images per class in both versions, and the brightness, width and height distributions of
    both overlaid (the shares of each version's images per bin)."""
    figure, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    balance = drift["class_balance"]
    classes = sorted(set(balance["reference"]) | set(balance["current"]))
    positions = np.arange(len(classes))
    for offset, version in ((-0.2, "reference"), (0.2, "current")):
        axes[0].bar(positions + offset, [balance[version].get(name, 0) for name in classes], width=0.4,
                    label=f"{version} ({drift['reference']['version']})" if version == "reference" else "this run")
    axes[0].set_xticks(positions, classes, rotation=45, ha="right")
    axes[0].set_title("images per class")
    axes[0].legend()
    for axis, name in zip(axes[1:], ("brightness", "width", "height")):
        histogram = drift["distributions"][name]["histogram"]
        edges = histogram["edges"]
        if edges:
            for version in ("reference", "current"):
                axis.stairs(histogram[version], edges, label=version, fill=version == "reference",
                            alpha=0.4 if version == "reference" else 1.0)
            axis.legend()  # an empty panel has nothing to label (matplotlib would warn)
        axis.set_title(f"{name} (share of images)")
    return _to_data_uri(figure)


def prediction_charts(predictions: dict, version: str) -> str:
    """The blessed model's predictions on its own data (`version`) and on this run's: images per
    predicted class, and the top-1 confidence of both overlaid (the shares of each sample per bin)."""
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    classes = predictions["classes"]
    names = list(classes["reference"])
    positions = np.arange(len(names))
    for offset, side in ((-0.2, "reference"), (0.2, "current")):
        axes[0].bar(positions + offset, [classes[side].get(name, 0) for name in names], width=0.4,
                    label=f"{side} ({version})" if side == "reference" else "this run")
    axes[0].set_xticks(positions, names, rotation=45, ha="right")
    axes[0].set_title("predicted class (sampled images)")
    axes[0].legend()
    histogram = predictions["confidence"]["histogram"]
    if histogram["edges"]:
        for side in ("reference", "current"):
            axes[1].stairs(histogram[side], histogram["edges"], label=side, fill=side == "reference",
                           alpha=0.4 if side == "reference" else 1.0)
        axes[1].legend()
    axes[1].set_title("top-1 confidence (share of images)")
    return _to_data_uri(figure)
