"""report: one self-contained HTML page from the run's results, built here by hand.

The page is parsed (html.parser) and each section is read back: its headings, tables, lists and
paragraphs must hold the fixture's figures in the right rows and columns. The charts are read back
from the matplotlib figures the report embedded (each matched to its <img> by its data URI): the
confusion matrix is asymmetric, so a transpose shows."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.artifacts import (
    LAYOUT_FILE,
    MODEL_SUMMARY_FILE,
    SPLITS_FILE,
    TRAIN_SUMMARY_FILE,
)
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.reporting.model_card import NO_CARD, card_markdown
from stages.report import main, render_report
from tests.alexnet_pipeline.reporting.test_charts import read_heatmap, spied_figures
from tests.alexnet_pipeline.reporting.test_model_card import VERSION, sample_card
from tests.helpers import write_params

CLASSES = ["lynx", "ocelot", "zebra"]
LAYOUT = {"source": "sample", "seed": 42, "classes": CLASSES,
          "splits": {"train": {"lynx": 7, "ocelot": 6, "zebra": 9},
                     "test": {"lynx": 5, "ocelot": 2, "zebra": 9}}}
SPLITS = {"train": {"lynx": 6, "ocelot": 5, "zebra": 7},
          "val": {"lynx": 1, "ocelot": 1, "zebra": 2},
          "test": {"lynx": 5, "ocelot": 2, "zebra": 9}}
VALIDATION = {
    "success": False,
    "policies": {"on_invalid": "quarantine", "on_duplicate": "drop", "on_leakage": "drop"},
    "counts": {"files": 41, "invalid": 2, "duplicates": 0, "leaked": 1, "dropped": 1, "usable": 38,
               "by_split": {"train": {"lynx": 7, "ocelot": 6, "zebra": 9},
                            "test": {"lynx": 5, "ocelot": 3, "zebra": 9}}},
    "invalid": [{"path": "train/zebra/broken_file_7.jpg", "reason": "empty file (0 bytes)"},
                {"path": "train/lynx/half.jpg", "reason": "truncated JPEG"}],
    "duplicates": [],
    "leakage": [{"path": "test/ocelot/copy_of_3.jpg", "split": "test",
                 "same_as": "train/ocelot/3.jpg", "dropped": True}],
    "expectations": [{"expectation": "expect_column_values_to_be_in_set", "column": "ok",
                      "success": False, "unexpected_count": 2, "description": "the file decodes"}],
    "class_expectations": [{"expectation": "expect_column_values_to_be_between", "column": "count",
                            "success": True, "unexpected_count": 0,
                            "description": "at least 2 train images", "failing_classes": {}}],
}
# Rows are the true class, columns the predicted one; the figures below are what
# alexnet_pipeline.evaluation.classification computes from it. Asymmetric: a transpose shows.
CONFUSION = [[4, 1, 0],
             [0, 2, 0],
             [2, 1, 6]]
METRICS = {
    "accuracy": 0.75, "loss": 0.6789, "macro_f1": 0.731313, "weighted_f1": 0.760606,
    "num_examples": 16,
    "per_class": {"lynx": {"precision": 0.666667, "recall": 0.8, "f1": 0.727273, "support": 5},
                  "ocelot": {"precision": 0.5, "recall": 1.0, "f1": 0.666667, "support": 2},
                  "zebra": {"precision": 1.0, "recall": 0.666667, "f1": 0.8, "support": 9}},
    "confusion_matrix": CONFUSION,
    "confusion_matrix_normalized": [[0.8, 0.2, 0.0], [0.0, 1.0, 0.0], [0.2222, 0.1111, 0.6667]],
    "classes": CLASSES,
    "model": {"choice": "best", "path": "models/alexnet.best.keras", "epoch": 5, "epochs_run": 6,
              "best_epoch": 5, "best_loss": 0.31},
}
PER_CLASS_ROWS = [["class", "precision", "recall", "F1", "support"],
                  ["lynx", "0.667", "0.800", "0.727", "5"],
                  ["ocelot", "0.500", "1.000", "0.667", "2"],
                  ["zebra", "1.000", "0.667", "0.800", "9"],
                  ["macro / weighted F1", "", "", "0.731 / 0.761", "16"]]
# (true, predicted) -> images
CONFUSION_CELLS = {("lynx", "lynx"): 4, ("lynx", "ocelot"): 1, ("lynx", "zebra"): 0,
                   ("ocelot", "lynx"): 0, ("ocelot", "ocelot"): 2, ("ocelot", "zebra"): 0,
                   ("zebra", "lynx"): 2, ("zebra", "ocelot"): 1, ("zebra", "zebra"): 6}
HISTORY = {"loss": {"train": [(0, 1.2), (1, 0.9)], "val": [(0, 1.3), (1, 1.0)]},
           "accuracy": {"train": [(0, 0.4), (1, 0.6)], "val": [(0, 0.5), (1, 0.55)]}}
MODEL = {"name": "alexnet", "total_params": 58289538, "trainable_params": 58289000,
         "layers": [{"name": "conv1", "type": "Conv2D", "output_shape": [55, 55, 96],
                     "params": 34944},
                    {"name": "fc8", "type": "Dense", "output_shape": [3], "params": 12291}]}
SUMMARY = {"recipe": "paper", "epochs": 8, "epochs_run": 6, "resumed_from_epoch": 2,
           "stopped_early": False, "best_epoch": 5, "best_loss": 0.41, "wall_time_s": 88.0,
           "images_per_s": 37.5, "devices": ["CPU"], "replicas": 1, "workers": 2,
           "precision": "mixed_bfloat16", "precision_reason": "auto: the CPU has avx512_bf16",
           "batch_size": 16, "learning_rate": 0.01, "optimizer": "sgd", "input_cache": "off",
           "input_cache_reason": "train.cache: off"}
SAMPLES = [{"path": "test/zebra/1.jpg", "actual": "zebra", "predicted": "lynx", "p_predicted": 0.91,
            "p_actual": 0.09, "correct": False, "thumbnail": "data:image/jpeg;base64,/9j/AAAA"},
           {"path": "test/ocelot/2.jpg", "actual": "ocelot", "predicted": "ocelot",
            "p_predicted": 0.8, "p_actual": 0.8, "correct": True,
            "thumbnail": "data:image/jpeg;base64,/9j/BBBB"}]
DIFF = [{"metric": "accuracy", "old": 0.6, "new": 0.75, "change": 0.15},
        {"metric": "loss", "old": 0.5, "new": 0.6789, "change": 0.1789},
        {"metric": "macro_f1", "old": None, "new": 0.731313, "change": None}]
REJECTED_GATE = {
    "status": "rejected", "promoted": False,
    "message": "not promoted: the blessed model v1.0.0 stays in place",
    "reasons": ["max_regression"],
    "checks": [{"name": "min_accuracy", "passed": True,
                "detail": "test accuracy 0.7500 (gate.min_accuracy 0.5)"},
               {"name": "max_regression", "passed": False,
                "detail": "accuracy 0.7500 against the blessed 0.8125 (gate.max_regression 0.02)"}],
    "candidate": {"version": None, "accuracy": 0.75, "loss": 0.6789,
                  "per_class_recall": {"lynx": 0.8, "ocelot": 1.0, "zebra": 0.666667}},
    "blessed": {"version": "v1.0.0", "accuracy": 0.8125, "loss": 0.5432, "per_class_recall": {}},
    "blessed_note": "the blessed v1.0.0 rescored on this run's test split (16 images)",
    "comparison": {"images": 16, "difference": -0.0625, "interval": [-0.25, 0.125], "confidence": 0.95,
                   "resamples": 10000, "candidate_only": 1, "blessed_only": 2, "test": "McNemar exact",
                   "p_value": 1.0},
    "serving_version": "v1.0.0",
    "thresholds": {"min_accuracy": 0.5, "min_class_recall": None, "max_regression": 0.02, "alpha": 0.05},
    "on_reject": "warn", "drift": {"drifted": True, "findings": ["x"], "on_drift": "warn"}}


def _result(test: str, statistic: float, p_value: float, effect: float, drifted: bool,
            **more: Any) -> dict:
    return {"test": test, "statistic": statistic, "p_value": p_value, "effect": effect,
            "drifted": drifted, **more}


def _numeric(figures: tuple, edges: list[float], reference: list[float],
             current: list[float]) -> dict:
    summary = {"min": edges[0], "median": edges[1], "max": edges[-1]}
    return _result(*figures, reference=summary, current=summary,
                   histogram={"edges": edges, "reference": reference, "current": current})


DRIFT = {
    "reference": {"version": "v1.0.0", "images": 44, "classes": ["heron", *CLASSES]},
    "current": {"images": 40, "classes": CLASSES}, "drifted": True,
    "findings": ["classes changed: added none, removed ['heron']",
                 "image brightness distribution shifted (distance 0.412, p=0.0031)"],
    "on_drift": "warn",
    "classes": {"added": [], "removed": ["heron"]},
    "class_balance": _result("chi2", 5.5, 0.138, 0.1, False,
                             reference={"heron": 4, "lynx": 12, "ocelot": 9, "zebra": 19},
                             current={"lynx": 13, "ocelot": 8, "zebra": 19}),
    "distributions": {
        "width": _numeric(("ks", 0.05, 0.99, 0.05, False), [100.0, 150.0, 200.0],
                          [0.5, 0.5], [0.45, 0.55]),
        "height": _numeric(("ks", 0.0625, 0.95, 0.0625, False), [80.0, 120.0, 160.0],
                           [0.5, 0.5], [0.5, 0.5]),
        "brightness": _numeric(("ks", 0.412, 0.0031, 0.412, True), [10.0, 90.0, 170.0],
                               [0.2, 0.8], [0.7, 0.3]),
        "format": _result("chi2", 0.0, 1.0, 0.0, False, reference={"JPEG": 44},
                          current={"JPEG": 40}),
    },
    "files": {"added": 3, "removed": 7, "changed": 2, "unchanged": 35,
              "examples": {"added": [], "removed": [], "changed": []}},
    "leakage": {"count": 1,
                "examples": [{"path": "train/lynx/9.jpg", "reference_path": "test/lynx/2.jpg"}]},
    "embedding": _result("mmd", 0.01234, 0.25, 0.01234, False, sample_sizes=[44, 40]),
}


# --- reading the page back ------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        """The text inside, whitespace collapsed (as a browser shows it, near enough)."""
        return " ".join(self.raw_text().split())

    def raw_text(self) -> str:
        return "".join(child if isinstance(child, str) else " " if child.tag == "br"
                       else child.raw_text() for child in self.children)

    def elements(self) -> list[Element]:
        return [child for child in self.children if isinstance(child, Element)]

    def iter(self, tag: str | None = None):
        for child in self.elements():
            if tag is None or child.tag == tag:
                yield child
            yield from child.iter(tag)

    def all(self, tag: str, cls: str | None = None) -> list[Element]:
        return [e for e in self.iter(tag) if cls is None or cls in e.attrs.get("class", "").split()]

    def one(self, tag: str, cls: str | None = None) -> Element:
        found = self.all(tag, cls)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls}> where one was expected"
        return found[0]

    def by_id(self, element_id: str) -> Element:
        found = [e for e in self.iter() if e.attrs.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id={element_id!r}"
        return found[0]

    def rows(self) -> list[list[str]]:
        """A table's rows, each the text of its cells (th and td alike)."""
        assert self.tag == "table"
        return [[cell.text() for cell in row.elements() if cell.tag in ("th", "td")]
                for row in self.iter("tr")]


class _TreeBuilder(HTMLParser):
    """A strict tree: every end tag must close the element open last (the template closes all)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack = [Element("#document", {})]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        open_tag = self.stack[-1].tag
        assert open_tag == tag, f"</{tag}> closes <{open_tag}> at line {self.getpos()[0]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert [e.tag for e in builder.stack] == ["#document"], "unclosed elements"
    return builder.stack[0]


def _heading(element: Element) -> str | None:
    """An <h2>'s text, or that of the <h2> that opens a <section>."""
    if element.tag == "section" and element.elements() and element.elements()[0].tag == "h2":
        return element.elements()[0].text()
    return element.text() if element.tag == "h2" else None


def section(document: Element, heading: str) -> Element:
    """The body's <section> opened by the <h2> `heading`, or the <h2> `heading` and what follows
    it up to the next <h2> or <section>."""
    children = document.one("body").elements()
    starts = [i for i, child in enumerate(children) if _heading(child) == heading]
    assert len(starts) == 1, f"{len(starts)} sections headed {heading!r}"
    start = starts[0]
    if children[start].tag == "section":
        return children[start]
    end = next((i for i in range(start + 1, len(children)) if _heading(children[i]) is not None),
               len(children))
    return Element("#section", {}, children[start:end])


def table_headed(part: Element, *header: str) -> list[list[str]]:
    """The rows of the one table in `part` whose first row is `header`."""
    tables = [t.rows() for t in part.all("table") if t.rows() and t.rows()[0] == list(header)]
    assert len(tables) == 1, f"{len(tables)} tables headed {header} in {part.text()[:200]!r}"
    return tables[0]


def cards(document: Element) -> dict[str, str]:
    """The headline cards: their label and their figure."""
    return {"".join(c for c in card.children if isinstance(c, str)).strip(): card.one("b").text()
            for card in document.one("div", "cards").all("div", "card")}


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("report")
    return load_params(write_params(root, report__title="Run <b>seven</b> & co"))


@dataclass
class Rendered:
    html: str
    document: Element
    figures: dict[str, Any]  # data URI -> the matplotlib figure it was drawn from

    def figure_of(self, image: Element):
        return self.figures[image.attrs["src"]]


def render_spied(params, **kwargs) -> Rendered:
    """render_report, keeping each chart's figure by the data URI the page embeds."""
    with spied_figures() as figures:
        html = render_report(params, **{"layout": LAYOUT, "splits": SPLITS,
                                        "validation": VALIDATION, "metrics": METRICS,
                                        "history": HISTORY, **kwargs})
    return Rendered(html, parse(html), figures)


@pytest.fixture(scope="module")
def full(params) -> Rendered:
    """The report of a rejected run on drifted data, with every optional part given."""
    return render_spied(params, model=MODEL, summary=SUMMARY, samples=SAMPLES, diff=DIFF,
                        baseline_note="the metrics committed at HEAD", gate=REJECTED_GATE,
                        drift=DRIFT, data_docs="data_docs/index.html", card=sample_card())


def _render(params, metrics: dict = METRICS, layout: dict = LAYOUT, **kwargs) -> Element:
    """The report without training history (no curves to draw), parsed."""
    return parse(render_report(params, layout, SPLITS, VALIDATION, metrics, {}, **kwargs))


def _data_uris(html: str) -> list[str]:
    return re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)


# --- the page -------------------------------------------------------------------------------

def test_report_is_self_contained_with_embedded_charts(params) -> None:
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, METRICS, HISTORY)
    uris = _data_uris(html)
    assert len(uris) == 2  # training curves and confusion matrix
    for uri in uris:
        with Image.open(io.BytesIO(base64.b64decode(uri))) as png:
            assert png.format == "PNG" and png.width > 100 and png.height > 100
    assert not re.search(r"https?://", html)  # nothing fetched from anywhere
    for reference in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html):
        assert reference.startswith("data:"), reference
    assert "<script" not in html and "<link" not in html
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert html.rstrip().endswith("</html>")


def test_the_sections_come_in_order(full: Rendered) -> None:
    body = full.document.one("body").elements()
    assert [_heading(e) for e in body if _heading(e) is not None] == [
        "Model gate: not promoted", "Compared with the last commit", "Data drift", "Data",
        "Validation", "Training", "Test metrics", "Model", "Model card: blessed v2.0.0", "Params"]
    assert body.index(full.document.one("div", "cards")) < body.index(full.document.by_id("drift"))


def test_model_card_section(full: Rendered, params) -> None:
    card = full.document.by_id("model-card")
    texts = [p.text() for p in card.all("p")]
    assert texts[0] == ("Blessed 2026-12-05T09:30:00+00:00: promoted as v2.0.0, replacing v1.0.0. The card travels "
                        f"with the version (model_card.md in the blessed store; {params.paths.model_card}).")
    assert texts[2] == "Data. Source kaggle, data version f0f0f0f0f0f0f0f0, 120 images."
    interval = sample_card()["metrics"]["accuracy_interval"]
    assert texts[3] == f"Test accuracy 0.9000 (95% interval {interval[0]:.3f} to {interval[1]:.3f}) on 40 images."
    rows = card.one("table").rows()
    assert rows[0] == ["class", "recall", "95% interval", "precision", "test images"] and len(rows) == 3
    assert rows[2][:2] == ["dog", "0.850"] and rows[2][3:] == ["0.940", "20"]
    assert [li.text() for li in card.all("li")] == sample_card()["limits"]


def test_user_text_is_escaped(full: Rendered) -> None:
    assert "<b>seven</b>" not in full.html
    assert "Run &lt;b&gt;seven&lt;/b&gt; &amp; co" in full.html
    title = "Run <b>seven</b> & co"
    assert full.document.one("title").text() == full.document.one("h1").text() == title


def test_headline_cards(full: Rendered) -> None:
    assert cards(full.document) == {"test accuracy": "0.750", "test loss": "0.679",
                                    "macro F1": "0.731", "test images": "16",
                                    "validation": "issues"}
    assert full.document.one("div", "cards").all("b")[-1].attrs["class"] == "bad"


@pytest.mark.parametrize(("extra", "shown"), [
    ({"top5_accuracy": 0.9375}, {"top-5 accuracy": "0.938"}),
    ({"roc_auc": 0.8766, "average_precision": 0.7}, {"ROC AUC": "0.877"}),
    ({"ten_crop": {"centre_accuracy": 0.6875, "centre_loss": 0.7, "gain": 0.0625}},
     {"ten-crop gain": "+0.062"}),
    # two classes and a test split of one: evaluate writes roc_auc null, and there is no card
    ({"roc_auc": None, "average_precision": None}, {}),
])
def test_optional_headline_cards(params, extra: dict, shown: dict) -> None:
    assert cards(_render(params, {**METRICS, **extra})) == {
        "test accuracy": "0.750", "test loss": "0.679", "macro F1": "0.731", "test images": "16",
        "validation": "issues", **shown}


def test_ten_crop_scoring_is_explained(params) -> None:
    ten_crop = {**METRICS,
                "ten_crop": {"centre_accuracy": 0.6875, "centre_loss": 0.7, "gain": 0.0625}}
    paragraphs = [p.text() for p in section(_render(params, ten_crop), "Test metrics").all("p")]
    assert paragraphs[1] == ("Scored as in the paper: the average over ten crops (four corners and "
                             "the centre, and their mirror images). The centre crop alone scores "
                             "0.688.")
    assert len(section(_render(params), "Test metrics").all("p")) == 1  # the scored model alone


def test_gate_section(full: Rendered) -> None:
    gate = full.document.by_id("gate")
    assert gate.one("h2").text() == "Model gate: not promoted"
    verdict = gate.one("div", "verdict")
    assert verdict.attrs["class"].split() == ["verdict", "rejected"]
    assert verdict.text() == (
        "not promoted: the blessed model v1.0.0 stays in place. "
        "Serving (blessed) version after this run: v1.0.0 (gate.on_reject: warn)")
    assert gate.one("table").rows() == [["", "candidate (this run)", "blessed before this run"],
                                        ["version", "not promoted", "v1.0.0"],
                                        ["test accuracy", "0.7500", "0.8125"],
                                        ["test loss", "0.6789", "0.5432"]]
    assert [(li.attrs["class"], li.text()) for li in gate.all("li")] == [
        ("ok", "pass min_accuracy: test accuracy 0.7500 (gate.min_accuracy 0.5)"),
        ("bad", ("FAIL max_regression: accuracy 0.7500 against the blessed 0.8125 "
                 "(gate.max_regression 0.02)"))]
    assert [p.text() for p in gate.all("p")] == [
        "Compared: the blessed v1.0.0 rescored on this run's test split (16 images).",
        ("Paired on the same 16 test images: accuracy difference -0.0625 (95% interval -0.2500 to +0.1250); "
         "1 images only the candidate gets right, 2 only the blessed; McNemar p = 1 (gate.alpha 0.05).")]


def test_gate_section_of_a_first_promotion(params) -> None:
    gate = _render(params, gate=FIRST_GATE, drift=FIRST_DRIFT).by_id("gate")
    assert gate.one("h2").text() == "Model gate: promoted"
    assert gate.one("div", "verdict").text() == (
        "promoted as v1.0.0. Serving (blessed) version after this run: v1.0.0")
    assert gate.one("table").rows()[1:] == [["version", "v1.0.0", "none"],
                                            ["test accuracy", "0.8571", "-"],
                                            ["test loss", "0.5000", "-"]]


def test_drift_section(full: Rendered) -> None:
    drift = full.document.by_id("drift")
    paragraphs = [p.text() for p in drift.all("p")]
    assert paragraphs[0] == ("This data (40 images) against the data of the blessed v1.0.0 "
                             "(44 images); drift.on_drift: warn.")
    assert [(li.attrs["class"], li.text()) for li in drift.all("li")] == [
        ("bad", "classes changed: added none, removed ['heron']"),
        ("bad", "image brightness distribution shifted (distance 0.412, p=0.0031)")]
    assert drift.one("table").rows() == [
        ["check", "test", "statistic", "p-value", "effect", "drift"],
        ["class balance", "chi2", "5.5", "0.138", "0.100", "no"],
        ["image width", "ks", "0.05", "0.99", "0.050", "no"],
        ["image height", "ks", "0.0625", "0.95", "0.062", "no"],
        ["image brightness", "ks", "0.412", "0.0031", "0.412", "yes"],
        ["image format", "chi2", "0", "1", "0.000", "no"],
        ["embeddings", "mmd", "0.01234", "0.25", "0.012", "no"]]
    assert paragraphs[1] == (
        "Classes added: none; removed: heron. Files: 3 added, 7 removed, 2 changed, 35 unchanged. "
        "Leakage across versions: 1 new train images identical to test images of the blessed "
        "model's data (e.g. train/lynx/9.jpg = test/lynx/2.jpg).")
    figure = full.figure_of(drift.one("img"))
    assert [axis.get_title() for axis in figure.axes] == [
        "images per class", "brightness (share of images)", "width (share of images)",
        "height (share of images)"]
    balance = figure.axes[0]
    assert [label.get_text() for label in balance.get_xticklabels()] == ["heron", *CLASSES]
    assert {bars.get_label(): [bar.get_height() for bar in bars] for bars in balance.containers} \
        == {"reference (v1.0.0)": [4, 12, 9, 19], "this run": [0, 13, 8, 19]}


PREDICTIONS = {
    "sample_sizes": [40, 36],
    "classes": _result("chi-square", 14.2, 0.00082, 0.3, True, reference={"lynx": 12, "ocelot": 8, "zebra": 20},
                       current={"lynx": 24, "ocelot": 2, "zebra": 10}),
    "confidence": _numeric(("kolmogorov-smirnov", 0.2, 0.4, 0.2, False), [0.4, 0.7, 1.0], [0.25, 0.75],
                           [0.5, 0.5]),
}
GALLERY = [{"path": "test/zebra/dark <1>.jpg", "predicted": "lynx", "confidence": 0.4321, "distance": 12.3456,
            "thumbnail": "01.jpg", "image": "data:image/jpeg;base64,/9j/CCCC"},
           {"path": "train/lynx/5.jpg", "predicted": "lynx", "confidence": 0.9, "distance": 7.0,
            "thumbnail": "02.jpg", "image": ""}]  # its file missing: a caption without a picture
DRIFT_WITH_PREDICTIONS = {**DRIFT, "predictions": PREDICTIONS,
                          "gallery": [{k: v for k, v in e.items() if k != "image"} for e in GALLERY]}


def test_drift_section_with_the_label_free_tests_and_the_gallery(params) -> None:
    rendered = render_spied(params, gate=REJECTED_GATE, drift=DRIFT_WITH_PREDICTIONS, gallery=GALLERY)
    drift = rendered.document.by_id("drift")
    assert drift.one("table").rows()[-3:] == [
        ["embeddings", "mmd", "0.01234", "0.25", "0.012", "no"],
        ["predicted classes", "chi-square", "14.2", "0.00082", "0.300", "yes"],
        ["prediction confidence", "kolmogorov-smirnov", "0.2", "0.4", "0.200", "no"]]
    assert [h.text() for h in drift.all("h3")] == ["The blessed model's predictions, without labels",
                                                   "Most atypical new images"]
    paragraphs = [p.text() for p in drift.all("p")]
    assert paragraphs[2] == (
        "The blessed v1.0.0's own predictions on 36 sampled images of this data against its predictions on 40 of "
        "its own data: the mix of predicted classes (chi-square) and the top-1 confidence (Kolmogorov-Smirnov), in "
        "the table above.")
    assert paragraphs[3] == (
        "The 2 sampled images of this data farthest from the blessed data in embedding space (mean Euclidean "
        "distance to their 5 nearest reference embeddings), the most atypical first, with the blessed model's "
        "prediction.")
    charts_shown = drift.all("img")[:2]
    figure = rendered.figure_of(charts_shown[1])
    assert [axis.get_title() for axis in figure.axes] == ["predicted class (sampled images)",
                                                          "top-1 confidence (share of images)"]
    bars = figure.axes[0]
    assert [label.get_text() for label in bars.get_xticklabels()] == ["lynx", "ocelot", "zebra"]
    assert {group.get_label(): [bar.get_height() for bar in group] for group in bars.containers} == {
        "reference (v1.0.0)": [12, 8, 20], "this run": [24, 2, 10]}
    gallery = drift.by_id("drift-gallery")
    figures = gallery.all("figure")
    assert [f.one("figcaption").text() for f in figures] == [
        "lynx 0.43 distance 12.3 test/zebra/dark <1>.jpg", "lynx 0.90 distance 7 train/lynx/5.jpg"]
    assert [(img.attrs["src"], img.attrs["alt"]) for img in gallery.all("img")] == [
        ("data:image/jpeg;base64,/9j/CCCC", "test/zebra/dark <1>.jpg")]


def test_a_drift_report_from_before_the_prediction_tests_still_renders(params) -> None:
    """drift.json written before the label-free tests (no `predictions`, no `gallery`)."""
    drift = _render(params, gate=REJECTED_GATE, drift=DRIFT).by_id("drift")
    assert drift.all("h3") == [] and len(drift.all("img")) == 1
    assert drift.one("table").rows()[-1][0] == "embeddings"


def test_drift_section_before_the_first_blessing(params) -> None:
    drift = _render(params, gate=FIRST_GATE, drift=FIRST_DRIFT).by_id("drift")
    assert [e.text() for e in drift.elements()] == [
        "Data drift", "No blessed model yet: nothing to compare this data with."]


def test_metrics_diff_section(full: Rendered) -> None:
    part = section(full.document, "Compared with the last commit")
    assert part.one("p").text() == "Baseline: the metrics committed at HEAD."
    table = part.one("table")
    assert table.rows() == [["metric", "this run", "last commit", "change"],
                            ["accuracy", "0.7500", "0.6000", "+0.1500"],
                            ["loss", "0.6789", "0.5000", "+0.1789"],
                            ["macro_f1", "0.7313", "-", "-"]]
    changes = [row.elements()[-1].attrs.get("class", "") for row in table.all("tr")[1:]]
    assert changes == ["ok", "bad", ""]  # accuracy up is good, loss up is bad


def test_data_section(full: Rendered) -> None:
    part = section(full.document, "Data")
    assert part.one("table").rows() == [["class", "train", "val", "test"], ["lynx", "6", "1", "5"],
                                        ["ocelot", "5", "1", "2"], ["zebra", "7", "2", "9"],
                                        ["total", "18", "4", "16"]]
    source = full.document.one("body").elements()[2]  # after the title and the gate
    assert source.text() == "Data source: sample · 3 classes · image size 227 px"


def test_validation_section(full: Rendered) -> None:
    part = section(full.document, "Validation")
    paragraphs = [p.text() for p in part.all("p")]
    assert paragraphs[0] == (
        "41 files checked: 2 invalid, 0 duplicates within a split, 1 shared between splits; "
        "1 dropped, 38 used (policies on_invalid: quarantine, on_duplicate: drop, "
        "on_leakage: drop). The great-expectations Data Docs show every suite run.")
    assert part.one("a").attrs["href"] == "data_docs/index.html"
    assert table_headed(part, "expectation", "column", "checks", "result", "unexpected")[1:] == [
        ["expect_column_values_to_be_in_set", "ok", "the file decodes", "fail", "2"],
        ["expect_column_values_to_be_between", "count", "at least 2 train images", "pass", "0"]]
    # no duplicates were found, so no table of them
    assert paragraphs[1:] == ["Invalid files:", "Shared between splits (leakage):"]
    assert table_headed(part, "path", "reason")[1:] == [
        ["train/zebra/broken_file_7.jpg", "empty file (0 bytes)"],
        ["train/lynx/half.jpg", "truncated JPEG"]]
    assert table_headed(part, "path", "same content as", "dropped")[1:] == [
        ["test/ocelot/copy_of_3.jpg", "train/ocelot/3.jpg", "yes"]]


def test_training_section(full: Rendered) -> None:
    part = section(full.document, "Training")
    assert part.one("p").text() == (
        "6 epochs (paper recipe, resumed from epoch 2); best epoch 5 (loss 0.4100); 88.0 s at "
        "37.5 images/s on CPU in mixed_bfloat16 (auto: the CPU has avx512_bf16).")
    figure = full.figure_of(part.one("img"))
    drawn = {axis.get_title(): {line.get_label(): list(zip(*line.get_data(), strict=True))
                                for line in axis.get_lines()} for axis in figure.axes}
    assert drawn == {"loss": {"train": [(1, 1.2), (2, 0.9)], "val": [(1, 1.3), (2, 1.0)]},
                     "accuracy": {"train": [(1, 0.4), (2, 0.6)], "val": [(1, 0.5), (2, 0.55)]}}


def test_report_without_training_history(params) -> None:
    html = render_report(params, LAYOUT, SPLITS, VALIDATION, METRICS, {})
    assert len(_data_uris(html)) == 1  # only the confusion matrix
    part = section(parse(html), "Training")
    assert part.all("img") == [] and part.one("p").text() == "No training history found."


def test_per_class_table(full: Rendered) -> None:
    part = section(full.document, "Test metrics")
    assert part.by_id("scored-model").text() == (
        "Scored: the best epoch's model (epoch 5 of 6, lowest val loss 0.3100), "
        "models/alexnet.best.keras.")
    assert table_headed(part, "class", "precision", "recall", "F1", "support") == PER_CLASS_ROWS


def test_confusion_matrix_rows_are_the_true_class(full: Rendered) -> None:
    part = section(full.document, "Test metrics")
    assert [h.text() for h in part.all("h3")] == ["Confusion matrix", "Sample predictions"]
    image = part.all("img")[0]
    assert image.attrs["alt"] == "confusion matrix heatmap"
    assert read_heatmap(full.figure_of(image)) == CONFUSION_CELLS
    for name, figures in METRICS["per_class"].items():  # a row's sum is the class's support
        assert sum(n for (true, _), n in CONFUSION_CELLS.items() if true == name) \
            == figures["support"]


def test_sample_predictions(full: Rendered) -> None:
    grid = section(full.document, "Test metrics").one("div", "grid")
    shown = [(f.attrs["class"], f.one("img").attrs["src"], f.one("figcaption").text())
             for f in grid.all("figure")]
    assert shown == [
        ("wrong", "data:image/jpeg;base64,/9j/AAAA",
         "lynx 0.91 truly zebra (0.09) test/zebra/1.jpg"),
        ("right", "data:image/jpeg;base64,/9j/BBBB", "ocelot 0.80 test/ocelot/2.jpg")]


def test_model_section(full: Rendered, params) -> None:
    part = section(full.document, "Model")
    assert part.one("p").text() == ("alexnet: 58,289,538 parameters (58,289,000 trainable), "
                                    f"variant {params.model.variant}.")
    assert part.one("table").rows() == [["layer", "type", "output shape", "parameters"],
                                        ["conv1", "Conv2D", "55 x 55 x 96", "34,944"],
                                        ["fc8", "Dense", "3", "12,291"]]


def test_params_section(full: Rendered, params) -> None:
    shown = yaml.safe_load(section(full.document, "Params").one("pre").raw_text())
    assert shown == params.model_dump(mode="json")


def test_report_names_the_kaggle_dataset_and_version(params) -> None:
    layout = {**LAYOUT, "source": "kaggle", "dataset": "tongpython/cat-and-dog", "version": 1}
    assert _render(params, layout=layout).one("body").elements()[1].text() == (
        "Data source: kaggle dataset tongpython/cat-and-dog version 1 · 3 classes · "
        "image size 227 px")


def test_report_names_the_last_epochs_model_when_that_is_scored(params) -> None:
    last = {**METRICS, "model": {**METRICS["model"], "choice": "last", "epoch": 6,
                                 "path": "models/alexnet.keras"}}
    assert _render(params, last).by_id("scored-model").text() == (
        "Scored: the last epoch's model (epoch 6 of 6), models/alexnet.keras.")


# --- the stage: files in, report.html and report.md out -------------------------------------

FIRST_GATE = {
    "status": "promoted", "promoted": True, "message": "promoted as v1.0.0", "reasons": [],
    "checks": [{"name": "min_accuracy", "passed": True,
                "detail": "test accuracy 0.8571 (gate.min_accuracy 0.5)"}],
    "candidate": {"version": "v1.0.0", "accuracy": 0.857143, "loss": 0.5,
                  "per_class_recall": {"lynx": 1.0}},
    "blessed": None,
    "blessed_note": "nothing is blessed yet: the candidate is judged on the thresholds", "comparison": None,
    "serving_version": "v1.0.0",
    "thresholds": {"min_accuracy": 0.5, "min_class_recall": None, "max_regression": 0.02, "alpha": 0.05},
    "on_reject": "warn", "drift": {"drifted": False, "findings": [], "on_drift": "warn"}}
FIRST_DRIFT = {"reference": None, "current": {"images": 7, "classes": CLASSES}, "drifted": False,
               "findings": [], "on_drift": "warn"}


def _write_inputs(params, gate: dict = FIRST_GATE, drift: dict = FIRST_DRIFT) -> None:
    paths = params.paths
    for path, data in ((paths.raw / LAYOUT_FILE, LAYOUT), (paths.processed / SPLITS_FILE, SPLITS),
                       (paths.validation_report, VALIDATION), (paths.metrics, METRICS),
                       (paths.gate, gate), (paths.drift, drift)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))


def test_main_writes_the_report(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path))
    _write_inputs(params)
    main(params)
    html = params.paths.report.read_text()
    document = parse(html)
    assert document.one("h1").text() == "AlexNet pipeline report"
    assert len(_data_uris(html)) == 1  # no training history: the confusion matrix alone
    # the Data Docs link is relative to reports/
    assert section(document, "Validation").one("a").attrs["href"] == "data_docs/index.html"
    assert section(document, "Compared with the last commit").one("p").text().startswith(
        "Baseline: none (no metrics committed at HEAD")  # no git repository here
    assert document.by_id("gate").one("h2").text() == "Model gate: promoted"
    per_class = table_headed(section(document, "Test metrics"), *PER_CLASS_ROWS[0])
    assert per_class == PER_CLASS_ROWS
    markdown = params.paths.report_markdown.read_text()
    assert markdown.startswith("# AlexNet pipeline report\n\n## Model gate: Promoted")
    assert "| accuracy | 0.7500 | - | - |" in markdown.splitlines()
    assert "No blessed model yet: nothing to compare this data with." in markdown.splitlines()
    assert params.paths.model_card.read_text() == NO_CARD  # no blessed store: no card
    assert document.by_id("model-card").one("h2").text() == "Model card"


MARKDOWN_OF_A_REJECTED_RUN = [
    "# AlexNet pipeline report", "",
    "## Model gate: Not promoted", "",
    "not promoted: the blessed model v1.0.0 stays in place.", "",
    "Serving (blessed) version after this run: **v1.0.0**", "",
    "| | candidate | blessed |", "|---|---|---|",
    "| version | not promoted | v1.0.0 |",
    "| test accuracy | 0.7500 | 0.8125 |",
    "| test loss | 0.6789 | 0.5432 |", "",
    "Compared: the blessed v1.0.0 rescored on this run's test split (16 images).", "",
    ("Paired on the same 16 test images: difference **-0.0625** (95% interval -0.2500 to +0.1250), McNemar p = "
     "**1** (gate.alpha 0.05); 1 images only the candidate gets right, 2 only the blessed."), "",
    "- pass `min_accuracy`: test accuracy 0.7500 (gate.min_accuracy 0.5)",
    ("- FAIL `max_regression`: accuracy 0.7500 against the blessed 0.8125 "
     "(gate.max_regression 0.02)"), "",
    "## Data drift", "",
    "Against the data of v1.0.0 (44 images; now 40); drift.on_drift: warn.", "",
    "- **classes changed: added none, removed ['heron']**",
    "- **image brightness distribution shifted (distance 0.412, p=0.0031)**", "",
    "| check | statistic | p-value | effect | drift |", "|---|---|---|---|---|",
    "| class balance (chi2) | 5.5 | 0.138 | 0.100 | no |",
    "| image width (ks) | 0.05 | 0.99 | 0.050 | no |",
    "| image height (ks) | 0.0625 | 0.95 | 0.062 | no |",
    "| image brightness (ks) | 0.412 | 0.0031 | 0.412 | yes |",
    "| image format (chi2) | 0 | 1 | 0.000 | no |",
    "| embeddings (mmd) | 0.01234 | 0.25 | 0.012 | no |", "",
    ("Files: 3 added, 7 removed, 2 changed, 35 unchanged. Leakage across versions: 1 new train "
     "images identical to the blessed data's test images."), "",
    "Test images: 16; classes: 3.", "",
    ("Training: 6 epochs (paper recipe), best epoch 5, 88.0 s, 37.5 img/s, mixed_bfloat16 "
     "(auto: the CPU has avx512_bf16)."), "",
    ("Scored: the best epoch's model (epoch 5 of 6, lowest val loss 0.3100), "
     "models/alexnet.best.keras."), "",
    "| metric | new | old | change |", "|---|---|---|---|",
    "| accuracy | 0.7500 | - | - |", "| loss | 0.6789 | - | - |", "| macro_f1 | 0.7313 | - | - |",
    "| weighted_f1 | 0.7606 | - | - |", "",
    "BASELINE", "",
    "| class | precision | recall | F1 | support |", "|---|---|---|---|---|",
    "| lynx | 0.667 | 0.800 | 0.727 | 5 |",
    "| ocelot | 0.500 | 1.000 | 0.667 | 2 |",
    "| zebra | 1.000 | 0.667 | 0.800 | 9 |", "",
    ("Validation: issues found; 41 files, 2 invalid, 0 duplicates, 1 shared between splits, "
     "38 used."),
]


def test_main_embeds_the_gallerys_thumbnails_from_the_gates_folder(tmp_path: Path) -> None:
    """The gate's thumbnails (paths.drift_gallery) become data URIs of the very same bytes."""
    params = load_params(write_params(tmp_path))
    _write_inputs(params, REJECTED_GATE, DRIFT_WITH_PREDICTIONS)
    params.paths.drift_gallery.mkdir(parents=True)
    Image.new("RGB", (128, 96), (200, 30, 30)).save(params.paths.drift_gallery / "01.jpg", format="JPEG")
    main(params)
    html = params.paths.report.read_text()
    images = parse(html).by_id("drift-gallery").all("img")
    thumbnail = (params.paths.drift_gallery / "01.jpg").read_bytes()
    assert [img.attrs["src"] for img in images] == ["data:image/jpeg;base64," + base64.b64encode(thumbnail).decode()]
    assert len(_data_uris(html)) == 3  # the confusion matrix, the drift charts, the prediction charts
    lines = params.paths.report_markdown.read_text().splitlines()
    assert "| predicted classes (chi-square) | 14.2 | 0.00082 | 0.300 | yes |" in lines
    assert ("Without labels: the blessed model's predicted classes and confidence on 36 sampled images of this "
            "data against 40 of its own data (the last two rows); the HTML report shows the 2 most atypical new "
            "images.") in lines


def test_main_writes_every_section_of_a_rejected_run(tmp_path: Path) -> None:
    """The stage on files as the earlier stages write them (read through their contracts), with
    the training summary, the model summary and the training logs: report.html and report.md."""
    params = load_params(write_params(tmp_path))
    _write_inputs(params, REJECTED_GATE, DRIFT)
    logs = params.paths.train_logs
    logs.mkdir(parents=True, exist_ok=True)
    (logs / TRAIN_SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    (logs / MODEL_SUMMARY_FILE).write_text(json.dumps(MODEL))
    for folder, split in (("train", "train"), ("eval", "val")):
        for metric, points in HISTORY.items():
            tsv = logs / "plots" / "metrics" / folder / f"{metric}.tsv"
            tsv.parent.mkdir(parents=True, exist_ok=True)
            tsv.write_text(f"step\t{metric}\n" + "".join(f"{s}\t{v}\n" for s, v in points[split]))
    main(params)

    html = params.paths.report.read_text()
    document = parse(html)
    assert len(_data_uris(html)) == 3  # training curves, confusion matrix, drift charts
    assert document.by_id("gate").one("table").rows()[1:] == [
        ["version", "not promoted", "v1.0.0"], ["test accuracy", "0.7500", "0.8125"],
        ["test loss", "0.6789", "0.5432"]]
    assert [row[0] for row in document.by_id("drift").one("table").rows()[1:]] == [
        "class balance", "image width", "image height", "image brightness", "image format",
        "embeddings"]
    per_class = table_headed(section(document, "Test metrics"), *PER_CLASS_ROWS[0])
    assert per_class == PER_CLASS_ROWS
    assert section(document, "Training").one("p").text().startswith(
        "6 epochs (paper recipe, resumed from epoch 2)")
    assert section(document, "Model").one("table").rows()[1] == [
        "conv1", "Conv2D", "55 x 55 x 96", "34,944"]

    lines = params.paths.report_markdown.read_text().splitlines()
    baseline = MARKDOWN_OF_A_REJECTED_RUN.index("BASELINE")
    assert lines[baseline].startswith("Baseline: none (no metrics committed at HEAD")
    assert lines[:baseline] + ["BASELINE"] + lines[baseline + 1:] == MARKDOWN_OF_A_REJECTED_RUN


def test_main_names_a_missing_input(tmp_path: Path, capsys) -> None:
    params_file = write_params(tmp_path)
    params = load_params(params_file)
    _write_inputs(params)
    params.paths.metrics.unlink()
    with pytest.raises(SystemExit) as stopped:
        run_stage("report", main, ["--params", str(params_file)])
    assert stopped.value.code == 1
    error = capsys.readouterr().err
    assert (f"error: report: {params.paths.metrics}: not found; run the earlier stages first"
            in error)
    assert not params.paths.report.exists()


def test_main_writes_the_blessed_models_card(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path))
    _write_inputs(params)
    params.paths.blessed.mkdir(parents=True)
    card = sample_card()
    (params.paths.blessed / "version.json").write_text(json.dumps(VERSION))
    (params.paths.blessed / "model_card.json").write_text(json.dumps(card))
    main(params)
    assert params.paths.model_card.read_text() == card_markdown(card)
    assert parse(params.paths.report.read_text()).by_id("model-card").one("h2").text() == "Model card: blessed v2.0.0"
