"""The front door: a one-screen README with the Quickstart first, reference pages that are the
code's own words (regenerated here and compared), and a documentation site that builds strictly."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from ruamel.yaml import YAML

from tools import reference_docs, report_screenshot
from tools.reference_docs import (
    CLI_PAGE,
    PARAMS_PAGE,
    REPO_ROOT,
    commented_params,
    field_at,
    generated_files,
    params_page,
    stale_files,
)

MKDOCS = Path(sys.executable).parent / "mkdocs"


def _leaf_keys(mapping: dict, prefix: str = "") -> list[str]:
    keys = []
    for name, value in mapping.items():
        keys += _leaf_keys(value, f"{prefix}{name}.") if isinstance(value, dict) else [prefix + name]
    return keys


def test_readme_is_one_screen_with_the_quickstart_first() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    headings = re.findall(r"^## (.+)$", readme, re.MULTILINE)
    assert headings[0] == "Quickstart"
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert quickstart.index("make run") < quickstart.index("make test")


def test_generated_pages_params_comments_and_pictures_are_up_to_date() -> None:
    assert stale_files(generated_files()) == [], "run `make reference` and commit the result"


def test_a_description_changed_in_the_schema_alone_makes_the_reference_stale(monkeypatch) -> None:
    params_text = (REPO_ROOT / "params.yaml").read_text(encoding="utf-8")
    assert params_page() == (REPO_ROOT / PARAMS_PAGE).read_text(encoding="utf-8")
    assert commented_params(params_text) == params_text
    monkeypatch.setattr(field_at("train.epochs"), "description", "passes over the training split, planted")
    assert "| passes over the training split, planted |" in params_page()
    assert params_page() != (REPO_ROOT / PARAMS_PAGE).read_text(encoding="utf-8")
    planted = [line for line in commented_params(params_text).splitlines() if line.lstrip().startswith("epochs:")]
    assert planted == ["  epochs: 10               # passes over the training split, planted"]


def test_every_leaf_key_of_params_yaml_is_in_the_params_reference() -> None:
    params = YAML(typ="safe", pure=True).load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    page = (REPO_ROOT / PARAMS_PAGE).read_text(encoding="utf-8")
    keys = _leaf_keys(params)
    assert len(keys) > 80
    assert [key for key in keys if f"| `{key}` |" not in page] == []


def test_every_cli_command_is_in_the_cli_reference() -> None:
    page = (REPO_ROOT / CLI_PAGE).read_text(encoding="utf-8")
    for command in ("run", "train-worker", "flow", "deploy", "serve", "predict", "models"):
        assert f"\n## alexnet {command}\n" in page
        assert f"usage: alexnet {command} [-h] [--project-dir DIR]" in page


def test_params_comments_keep_values_and_align_at_the_comment_column() -> None:
    text = ("# a full-line comment stays\n"
            "train:  # old\n"
            "  epochs: 10\n"
            "  lr_plateau:\n"
            "    patience: 0   # old text\n"
            "\n"
            "paths:\n"
            "  best_model: models/a-path-long-enough-to-pass-the-column.keras\n")
    lines = commented_params(text).splitlines()
    assert lines[0] == "# a full-line comment stays"
    assert lines[1] == f"train:{' ' * 20} # {field_at('train').description}"
    assert lines[2].index("#") == reference_docs.COMMENT_COLUMN
    assert lines[4] == f"    patience: 0{' ' * 11} # {field_at('train.lr_plateau.patience').description}"
    assert lines[5] == ""
    assert lines[7] == ("  best_model: models/a-path-long-enough-to-pass-the-column.keras # "
                        f"{field_at('paths.best_model').description}")
    yaml = YAML(typ="safe", pure=True)
    assert yaml.load(commented_params(text)) == yaml.load(text)


def test_a_dag_block_is_replaced_between_its_markers_only() -> None:
    page = ("before\n<!-- dvc dag --mermaid (kept in sync) -->\n```mermaid\nold\n```\n"
            "<!-- end dvc dag -->\nafter\n")
    assert reference_docs.with_dag(page, "flowchart TD\n\tnode1\n") == (
        "before\n<!-- dvc dag --mermaid (kept in sync) -->\n```mermaid\nflowchart TD\n\tnode1\n```\n"
        "<!-- end dvc dag -->\nafter\n")


def _build(project: Path, site: Path) -> subprocess.CompletedProcess:
    # not -q: with it, mkdocs 1.6 does not fail a strict build on its warnings
    return subprocess.run([str(MKDOCS), "build", "--strict", "-d", str(site)], cwd=project,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_documentation_site_builds_strictly_and_a_broken_link_fails_it(tmp_path: Path) -> None:
    built = _build(REPO_ROOT, tmp_path / "site")
    assert built.returncode == 0, built.stderr
    for page in ("index.html", "reference/params/index.html", "reference/cli/index.html",
                 "reference/contracts/index.html", "benchmarks/index.html"):
        assert (tmp_path / "site" / page).is_file(), page

    scratch = tmp_path / "scratch"
    shutil.copytree(REPO_ROOT / "docs", scratch / "docs")
    shutil.copy(REPO_ROOT / "mkdocs.yml", scratch / "mkdocs.yml")
    with (scratch / "docs" / "index.md").open("a", encoding="utf-8") as index:
        index.write("\nSee [the gate](trust.md#no-such-heading).\n")
    broken = _build(scratch, tmp_path / "broken-site")
    assert broken.returncode != 0
    assert "index.md" in broken.stderr and "no-such-heading" in broken.stderr



def test_the_report_picture_is_taken_from_a_report_and_only_when_there_is_one(tmp_path: Path) -> None:
    """The docs' picture of the report is made from the user's own report, not kept in git."""
    png = tmp_path / "images" / "report.png"
    assert report_screenshot.main(["--if-present", str(tmp_path / "none.html"), str(png)]) == 0
    assert not png.exists()
    assert report_screenshot.main([str(tmp_path / "none.html"), str(png)]) == 1
    if report_screenshot.find_browser() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must take the report's picture (.ci/run installs chromium)", pytrace=False)
        pytest.skip("Chromium is not installed")
    report = tmp_path / "report.html"
    report.write_text("<html><body style='background:#ff0000'><h1>AlexNet pipeline report</h1></body></html>")
    assert report_screenshot.main([str(report), str(png)]) == 0
    with Image.open(png) as picture:
        assert picture.size == (1280, 1800)
        assert picture.convert("RGB").getpixel((1200, 1700)) == (255, 0, 0)  # the page, as drawn
