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
