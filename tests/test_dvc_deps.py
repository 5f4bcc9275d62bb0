"""dvc.yaml's deps are exact: each stage depends on exactly the project files its command imports,
directly or transitively (lazy imports inside functions and package `__init__.py` files included,
plus the package data its modules read), and on no param that leaves its outputs unchanged. A
missing module means `dvc repro` keeps outputs the edited code would write differently; a needless
one (a folder, or a file the stage never imports) reruns a stage that cannot change. `make deps`
(tools/stage_deps.py) writes the code deps; see docs/development/dependencies.md."""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO_ROOT, run
from tools import stage_deps
from tools.stage_deps import (
    changed_deps,
    code_deps,
    differences,
    generated_deps,
    package_data_errors,
    rewrite,
    stale_because_of,
)

INTERPOLATION = re.compile(r"\$\{([\w.]+)\}")
# Params that change how work runs, never what it writes: no stage may depend on them. The report
# shows every param, so its whole params.yaml dependency is right.
RUNTIME_ONLY = ("validate.workers", "preprocess.workers", "data.kaggle.cache_dir",
                "data.kaggle.retries", "data.kaggle.backoff_s", "data.kaggle.timeout_s",
                "data.extract", "cluster")
SHOWS_EVERY_PARAM = {"report"}
DVC_YAML = (REPO_ROOT / "dvc.yaml").read_text()
MAKE_DEPS = "run `make deps` (python -m tools.stage_deps) to rewrite dvc.yaml's code deps"


def stage_definitions(root: Path) -> dict[str, dict]:
    """dvc.yaml's stages with `${...}` replaced by their params.yaml values."""
    params = yaml.safe_load((root / "params.yaml").read_text())

    def value(match: re.Match) -> str:
        found = params
        for key in match.group(1).split("."):
            found = found[key]
        return str(found)

    text = INTERPOLATION.sub(value, (root / "dvc.yaml").read_text())
    return yaml.safe_load(text)["stages"]


def runtime_only_params(stage: dict) -> list[str]:
    """The stage's declared params that cover a RUNTIME_ONLY key (the key, a section above it, or
    a whole params file)."""
    declared = []
    for entry in stage.get("params", []):
        if isinstance(entry, str):
            declared.append(entry)
        else:
            declared.extend(key for keys in entry.values() for key in (keys or [""]))
    return [key for key in declared
            if any(not key or key == runtime or runtime.startswith(f"{key}.")
                   for runtime in RUNTIME_ONLY)]


def with_deps(text: str, stage: str, add: tuple[str, ...] = (),
              remove: tuple[str, ...] = ()) -> str:
    """A copy of dvc.yaml `text` in which `stage`'s deps gain `add` (first) and lose `remove`."""
    head, _, tail = text.partition(f"\n  {stage}:\n")
    block, sep, rest = tail.partition("\n\n")
    for dep in remove:
        assert f"      - {dep}\n" in block
        block = block.replace(f"      - {dep}\n", "")
    block = block.replace("    deps:\n", "    deps:\n" + "".join(f"      - {dep}\n" for dep in add))
    return f"{head}\n  {stage}:\n{block}{sep}{rest}"


@functools.cache
def repo_differences() -> dict[str, stage_deps.StageDiff]:
    return {diff.stage: diff for diff in differences(REPO_ROOT, DVC_YAML)}


@functools.cache
def exact_dvc_yaml() -> str:
    """dvc.yaml as `make deps` writes it for the code as it is: the planted defects go into this,
    so that they test the check even while the real dvc.yaml lags behind an edit."""
    return rewrite(REPO_ROOT, DVC_YAML)


def planted_diff(tmp_path: Path, text: str, stage: str) -> stage_deps.StageDiff:
    """Write a planted dvc.yaml in tmp_path and return how `stage` differs (the repo's code)."""
    planted = tmp_path / "dvc.yaml"
    planted.write_text(text)
    found = {diff.stage: diff for diff in differences(REPO_ROOT, planted.read_text())}
    assert set(found) == {stage}
    return found[stage]


# The real repo: exact in both directions


@pytest.mark.parametrize("name", sorted(stage_definitions(REPO_ROOT)))
def test_each_stage_depends_on_exactly_the_files_it_imports(name: str) -> None:
    diff = repo_differences().get(name)
    assert diff is None, "\n".join(["dvc.yaml deps differ from what the code imports:",
                                    *diff.lines(), MAKE_DEPS])


def test_make_deps_would_change_nothing() -> None:
    """The exactness test: the generator's dvc.yaml for this repo is the committed one, byte for
    byte (deps, their order, the data deps after the code)."""
    assert exact_dvc_yaml() == DVC_YAML, MAKE_DEPS


def test_every_non_python_file_in_a_package_is_declared() -> None:
    assert package_data_errors(REPO_ROOT) == []


def test_the_report_template_is_a_dep_of_the_report_only() -> None:
    template = "alexnet_pipeline/reporting/templates/report.html.j2"
    stages = stage_deps.load(DVC_YAML)["stages"]
    readers = {name for name, deps in generated_deps(REPO_ROOT, stages).items() if template in deps}
    assert readers == {"report"}


@pytest.mark.parametrize("name", sorted(set(stage_definitions(REPO_ROOT)) - SHOWS_EVERY_PARAM))
def test_no_stage_depends_on_a_param_that_changes_no_output(name: str) -> None:
    assert runtime_only_params(stage_definitions(REPO_ROOT)[name]) == []


def test_a_runtime_only_param_is_named() -> None:
    stage = {"params": ["base.seed", "preprocess", {"params.yaml": ["validate.workers"]}]}
    assert runtime_only_params(stage) == ["preprocess", "validate.workers"]


# Planted defects in a copy of dvc.yaml


def test_a_folder_dep_is_needless(tmp_path: Path) -> None:
    text = with_deps(exact_dvc_yaml(), "train", add=("alexnet_pipeline/sources",))
    diff = planted_diff(tmp_path, text, "train")
    assert (diff.missing, diff.needless) == ([], ["alexnet_pipeline/sources"])
    assert "  needless: alexnet_pipeline/sources  (a folder)" in diff.lines()


def test_a_file_the_stage_does_not_import_is_needless(tmp_path: Path) -> None:
    edited = "alexnet_pipeline/sources/kaggle_source.py"
    diff = planted_diff(tmp_path, with_deps(exact_dvc_yaml(), "train", add=(edited,)), "train")
    assert (diff.missing, diff.needless) == ([], [edited])


def test_a_missing_import_is_named(tmp_path: Path) -> None:
    writer = "alexnet_pipeline/shards/shard_writer.py"
    text = with_deps(exact_dvc_yaml(), "preprocess", remove=(writer,))
    diff = planted_diff(tmp_path, text, "preprocess")
    assert (diff.missing, diff.needless) == ([writer], [])
    assert f"  missing:  {writer}" in diff.lines()


def test_a_folder_in_place_of_its_files_is_named_both_ways(tmp_path: Path) -> None:
    """The old style: preprocess on the `shards` folder instead of the files it imports."""
    files = [dep for dep in code_deps(REPO_ROOT, "stages.preprocess")
             if dep.startswith("alexnet_pipeline/shards/")]
    text = with_deps(exact_dvc_yaml(), "preprocess", add=("alexnet_pipeline/shards",),
                     remove=tuple(files))
    diff = planted_diff(tmp_path, text, "preprocess")
    assert (diff.missing, diff.needless) == (files, ["alexnet_pipeline/shards"])
    assert (f"  missing:  {files[0]}  (only through the folder dep alexnet_pipeline/shards)"
            in diff.lines())


def test_deps_out_of_order_are_named(tmp_path: Path) -> None:
    text = with_deps(exact_dvc_yaml(), "export", remove=("stages/export.py",))
    text = text.replace("      - ${paths.blessed}\n",
                        "      - ${paths.blessed}\n      - stages/export.py\n", 1)  # export's, not report's
    diff = planted_diff(tmp_path, text, "export")
    assert (diff.missing, diff.needless, diff.reordered) == ([], [], True)
    assert rewrite(REPO_ROOT, text) == exact_dvc_yaml()


# A planted project: its own modules, package data and dvc.yaml

PLANTED_FILES = {
    "stages/__init__.py": "",
    "stages/s.py": "import json\nfrom alexnet_pipeline import a\n",
    "stages/t.py": "from alexnet_pipeline.pages.render import page\n",
    "alexnet_pipeline/__init__.py": "",
    "alexnet_pipeline/a.py": "from . import c\n\ndef f():\n    import alexnet_pipeline.b\n",
    "alexnet_pipeline/b.py": "",
    "alexnet_pipeline/c.py": "from alexnet_pipeline import d\n",
    "alexnet_pipeline/d.py": "",
    "alexnet_pipeline/unused.py": "",
    "alexnet_pipeline/pages/__init__.py": "",
    "alexnet_pipeline/pages/render.py": "def page():\n    pass\n",
    "alexnet_pipeline/pages/templates/page.j2": "{{ x }}\n",
}
PLANTED_DATA = {"alexnet_pipeline/pages/templates/page.j2": "alexnet_pipeline/pages/render.py"}
PLANTED_DVC_YAML = """\
# The planted pipeline: this comment stays.
stages:
  # s: what module a pulls in
  s:
    cmd: python -m stages.s
    deps:
      - alexnet_pipeline  # a folder: needless
      - stages/s.py
      - alexnet_pipeline/unused.py
      - ${paths.raw}  # the data, kept with its comment
      - data/labels.json
    params:
      - base.seed
    outs:
      - ${paths.out}

  # t: reads a template
  t:
    cmd: python -m stages.t
    deps:
      - ${paths.out}
    outs:
      - ${paths.page}:
          cache: false  # kept in git
"""
PLANTED_GENERATED = """\
# The planted pipeline: this comment stays.
stages:
  # s: what module a pulls in
  s:
    cmd: python -m stages.s
    deps:
      - alexnet_pipeline/__init__.py
      - alexnet_pipeline/a.py
      - alexnet_pipeline/b.py
      - alexnet_pipeline/c.py
      - alexnet_pipeline/d.py
      - stages/__init__.py
      - stages/s.py
      - ${paths.raw}  # the data, kept with its comment
      - data/labels.json
    params:
      - base.seed
    outs:
      - ${paths.out}

  # t: reads a template
  t:
    cmd: python -m stages.t
    deps:
      - alexnet_pipeline/__init__.py
      - alexnet_pipeline/pages/__init__.py
      - alexnet_pipeline/pages/render.py
      - alexnet_pipeline/pages/templates/page.j2
      - stages/__init__.py
      - stages/t.py
      - ${paths.out}
    outs:
      - ${paths.page}:
          cache: false  # kept in git
"""


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in PLANTED_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "dvc.yaml").write_text(PLANTED_DVC_YAML)
    monkeypatch.setattr(stage_deps, "PACKAGE_DATA", PLANTED_DATA)
    return tmp_path


def test_lazy_relative_and_transitive_imports_are_followed(planted: Path) -> None:
    """`s` imports `a`, which imports `b` inside a function and `c` relatively; `c` imports `d`
    by `from package import d`. `t` imports the module that reads the template."""
    assert code_deps(planted, "stages.s", PLANTED_DATA) == [
        "alexnet_pipeline/__init__.py", "alexnet_pipeline/a.py", "alexnet_pipeline/b.py",
        "alexnet_pipeline/c.py", "alexnet_pipeline/d.py", "stages/__init__.py", "stages/s.py"]
    template = "alexnet_pipeline/pages/templates/page.j2"
    assert template in code_deps(planted, "stages.t", PLANTED_DATA)
    assert template not in code_deps(planted, "stages.t", {})


def test_the_planted_defects_are_named(planted: Path) -> None:
    found = {diff.stage: diff for diff in differences(planted, PLANTED_DVC_YAML, PLANTED_DATA)}
    assert found["s"].needless == ["alexnet_pipeline", "alexnet_pipeline/unused.py"]
    assert found["s"].missing == ["alexnet_pipeline/__init__.py", "alexnet_pipeline/a.py",
                                  "alexnet_pipeline/b.py", "alexnet_pipeline/c.py",
                                  "alexnet_pipeline/d.py", "stages/__init__.py"]
    assert found["t"].needless == []
    assert "alexnet_pipeline/pages/templates/page.j2" in found["t"].missing


def test_the_rewrite_keeps_comments_layout_and_data_deps(planted: Path) -> None:
    assert rewrite(planted, PLANTED_DVC_YAML, PLANTED_DATA) == PLANTED_GENERATED
    assert differences(planted, PLANTED_GENERATED, PLANTED_DATA) == []


def test_check_exits_1_naming_stage_and_file_and_0_once_rewritten(
        planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stage_deps.main(["--check", "--root", str(planted)]) == 1
    out = capsys.readouterr().out
    assert "stage `s`:\n" in out and "  needless: alexnet_pipeline  (a folder)\n" in out
    assert "  needless: alexnet_pipeline/unused.py\n" in out and "run `make deps`" in out
    assert stage_deps.main(["--root", str(planted)]) == 0
    assert (planted / "dvc.yaml").read_text() == PLANTED_GENERATED
    assert stage_deps.main(["--check", "--root", str(planted)]) == 0


def test_an_undeclared_package_file_is_an_error(planted: Path) -> None:
    assert package_data_errors(planted, PLANTED_DATA) == []
    (planted / "alexnet_pipeline/pages/templates/extra.css").write_text("")
    errors = package_data_errors(planted, PLANTED_DATA)
    assert len(errors) == 1 and errors[0].startswith("alexnet_pipeline/pages/templates/extra.css: ")
    assert stage_deps.main(["--check", "--root", str(planted)]) == 1


def test_dvc_status_json_is_read_per_stage() -> None:
    status = {"source": [{"changed deps": {"alexnet_pipeline/sources": "modified"}},
                         "always changed"],
              "train": [{"changed deps": {"alexnet_pipeline/errors.py": "modified"},
                         "changed outs": {"models/alexnet.keras": "modified"}}],
              "report": ["always changed"]}
    assert changed_deps(status) == {"source": {"alexnet_pipeline/sources"},
                                    "train": {"alexnet_pipeline/errors.py"}, "report": set()}
    assert stale_because_of(status, "alexnet_pipeline/sources/layout.py") == {"source"}
    assert stale_because_of(status, "alexnet_pipeline/errors.py") == {"train"}


# DVC itself: an edit makes exactly the importing stages stale


@pytest.mark.slow(seconds=5)
def test_editing_a_module_makes_exactly_its_importers_stale(project_copy: Path) -> None:
    edited = "alexnet_pipeline/sources/kaggle_source.py"
    stages = stage_deps.load((project_copy / "dvc.yaml").read_text())["stages"]
    importers = {name for name, deps in generated_deps(project_copy, stages).items()
                 if edited in deps}
    assert importers and importers < set(stages)  # a real test: some stages import it, not all
    with (project_copy / edited).open("a") as file:
        file.write("# edited\n")
    status = json.loads(run([sys.executable, "-m", "dvc", "status", "--json"], project_copy).stdout)
    assert stale_because_of(status, edited) == importers
    assert {stage: deps for stage, deps in changed_deps(status).items() if deps} == {
        stage: {edited} for stage in importers}
