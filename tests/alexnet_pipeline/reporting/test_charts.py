"""charts: each chart is read back from the matplotlib figure it was drawn on (what is plotted
where, and how it is labelled), and its PNG data URI decodes."""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from alexnet_pipeline.reporting import charts


@contextlib.contextmanager
def spied_figures() -> Iterator[dict]:
    """While open: each figure a chart turned into a data URI, by that URI (the report's tests
    match an embedded <img> to its figure so)."""
    figures = {}
    draw = charts._to_data_uri

    def keep(figure):
        uri = draw(figure)
        figures[uri] = figure
        return uri

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(charts, "_to_data_uri", keep)
        yield figures


@pytest.fixture
def drawn() -> Iterator[dict]:
    """Each figure a chart turned into a data URI, by that URI."""
    with spied_figures() as figures:
        yield figures


def read_heatmap(figure) -> dict[tuple[str, str], int]:
    """A confusion heatmap read back: {(true class, predicted class): count} from the numbers
    written in its cells, which must agree with the cells' shading. Rows must be labelled true and
    columns predicted, as evaluate counts them."""
    axis = figure.axes[0]
    assert (axis.get_ylabel(), axis.get_xlabel()) == ("true", "predicted")
    rows = [label.get_text() for label in axis.get_yticklabels()]
    columns = [label.get_text() for label in axis.get_xticklabels()]
    written = {}
    for text in axis.texts:
        column, row = (round(position) for position in text.get_position())
        written[rows[row], columns[column]] = int(text.get_text())
    shading = np.asarray(axis.images[0].get_array())
    assert shading.shape == (len(rows), len(columns))
    shaded = {(rows[r], columns[c]): int(shading[r, c]) for r, c in np.ndindex(shading.shape)}
    assert shaded == written
    return written


def _png_size(uri: str) -> tuple[int, int]:
    png_bytes = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    with Image.open(io.BytesIO(png_bytes)) as png:
        assert png.format == "PNG"
        return png.size


def test_confusion_heatmap_rows_are_true_and_columns_predicted(drawn: dict) -> None:
    matrix = [[5, 2, 0],  # 5 cats called cats, 2 called dogs
              [0, 3, 1],
              [4, 0, 7]]  # 4 foxes called cats
    uri = charts.confusion_heatmap(matrix, ["cat", "dog", "fox"])
    assert min(_png_size(uri)) > 100
    assert read_heatmap(drawn[uri]) == {
        ("cat", "cat"): 5, ("cat", "dog"): 2, ("cat", "fox"): 0,
        ("dog", "cat"): 0, ("dog", "dog"): 3, ("dog", "fox"): 1,
        ("fox", "cat"): 4, ("fox", "dog"): 0, ("fox", "fox"): 7}
    colours = {text.get_text(): text.get_color() for text in drawn[uri].axes[0].texts}
    assert colours["7"] == "white" and colours["1"] == "black"  # readable on dark and light cells


def test_training_curves_plot_each_split_per_epoch(drawn: dict) -> None:
    uri = charts.training_curves({
        "loss": {"train": [(0, 2.0), (1, 1.5), (2, 1.25)], "val": [(0, 2.5), (2, 1.75)]},
        "accuracy": {"train": [(0, 0.25), (1, 0.5), (2, 0.625)]}})
    assert min(_png_size(uri)) > 100
    plotted = {axis.get_title(): {line.get_label(): list(zip(*line.get_data(), strict=True))
                                  for line in axis.get_lines()} for axis in drawn[uri].axes}
    assert plotted == {  # epochs counted from 1
        "loss": {"train": [(1, 2.0), (2, 1.5), (3, 1.25)], "val": [(1, 2.5), (3, 1.75)]},
        "accuracy": {"train": [(1, 0.25), (2, 0.5), (3, 0.625)]}}
    assert all(axis.get_xlabel() == "epoch" for axis in drawn[uri].axes)


def test_drift_charts_put_each_version_in_its_place(drawn: dict) -> None:
    histogram = {"edges": [0.0, 50.0, 100.0], "reference": [0.75, 0.25], "current": [0.5, 0.5]}
    empty = {"edges": [], "reference": [], "current": []}
    drift = {"reference": {"version": "v2.0.0"},
             "class_balance": {"reference": {"cat": 10, "dog": 4}, "current": {"dog": 6, "fox": 3}},
             "distributions": {"brightness": {"histogram": histogram},
                               "width": {"histogram": histogram}, "height": {"histogram": empty}}}
    uri = charts.drift_charts(drift)
    assert min(_png_size(uri)) > 100
    balance, brightness, width, height = drawn[uri].axes
    assert [label.get_text() for label in balance.get_xticklabels()] == ["cat", "dog", "fox"]
    bars = {container.get_label(): [bar.get_height() for bar in container]
            for container in balance.containers}
    assert bars == {"reference (v2.0.0)": [10, 4, 0], "this run": [0, 6, 3]}
    for axis, name in ((brightness, "brightness"), (width, "width")):
        assert axis.get_title() == f"{name} (share of images)"
        steps = {patch.get_label(): (list(patch.get_data().values), list(patch.get_data().edges))
                 for patch in axis.patches}
        assert steps == {"reference": ([0.75, 0.25], [0.0, 50.0, 100.0]),
                         "current": ([0.5, 0.5], [0.0, 50.0, 100.0])}
    assert len(height.patches) == 0  # no values: an empty panel, not an error
