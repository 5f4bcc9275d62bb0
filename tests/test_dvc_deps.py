"""dvc.yaml cannot go stale: every stage depends on every project module its command imports,
directly or transitively (lazy imports inside functions included), and on no param that leaves
its outputs unchanged. A module missing from a stage's deps means `dvc repro` keeps outputs that
the edited code would write differently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO_ROOT
from tests.import_graph import import_closure

STAGE_MODULE = re.compile(r"python -m ([\w.]+)")
INTERPOLATION = re.compile(r"\$\{([\w.]+)\}")
# Params that change how work runs, never what it writes: no stage may depend on them. The report
# shows every param, so its whole params.yaml dependency is right.
RUNTIME_ONLY = ("validate.workers", "preprocess.workers", "data.kaggle.cache_dir", "data.kaggle.retries",
                "data.kaggle.backoff_s", "data.kaggle.timeout_s", "data.extract", "cluster")
SHOWS_EVERY_PARAM = {"report"}


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


def uncovered_modules(root: Path, stage: dict) -> list[str]:
    """The project files the stage's command imports that none of its deps (file or folder) covers."""
    module = STAGE_MODULE.search(stage["cmd"]).group(1)
    deps = [Path(dep if isinstance(dep, str) else next(iter(dep))) for dep in stage.get("deps", [])]
    missing = []
    for path in sorted(import_closure(root, module)):
        relative = path.relative_to(root)
        if not any(relative == dep or dep in relative.parents for dep in deps):
            missing.append(str(relative))
    return missing


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
            if any(not key or key == runtime or runtime.startswith(f"{key}.") for runtime in RUNTIME_ONLY)]


@pytest.mark.parametrize("name", sorted(stage_definitions(REPO_ROOT)))
def test_every_imported_module_is_a_dependency(name: str) -> None:
    missing = uncovered_modules(REPO_ROOT, stage_definitions(REPO_ROOT)[name])
    assert not missing, (f"dvc.yaml stage `{name}` imports {', '.join(missing)} but does not list "
                         "it under deps: `dvc repro` would keep outputs the edited code changes")


@pytest.mark.parametrize("name", sorted(set(stage_definitions(REPO_ROOT)) - SHOWS_EVERY_PARAM))
def test_no_stage_depends_on_a_param_that_changes_no_output(name: str) -> None:
    assert runtime_only_params(stage_definitions(REPO_ROOT)[name]) == []


def test_an_undeclared_module_is_named(tmp_path: Path) -> None:
    """Planted: preprocess without the folder of the modules that write every shard byte."""
    stage = stage_definitions(REPO_ROOT)["preprocess"]
    stage["deps"] = [dep for dep in stage["deps"] if dep != "alexnet_pipeline/shards"]
    missing = uncovered_modules(REPO_ROOT, stage)
    assert "alexnet_pipeline/shards/shard_writer.py" in missing
    assert all(name.startswith("alexnet_pipeline/shards/") for name in missing)


def test_lazy_relative_and_transitive_imports_are_followed(tmp_path: Path) -> None:
    """A planted project: the stage imports `a`, which imports `b` inside a function and `c`
    relatively; `c` imports `d` by `from package import d`. A folder dep covers what is under it."""
    package = tmp_path / "alexnet_pipeline"
    (tmp_path / "stages").mkdir()
    package.mkdir()
    files = {
        "stages/__init__.py": "",
        "stages/s.py": "import json\nfrom alexnet_pipeline import a\n",
        "alexnet_pipeline/__init__.py": "",
        "alexnet_pipeline/a.py": "from . import c\n\ndef f():\n    import alexnet_pipeline.b\n",
        "alexnet_pipeline/b.py": "",
        "alexnet_pipeline/c.py": "from alexnet_pipeline import d\n",
        "alexnet_pipeline/d.py": "",
        "alexnet_pipeline/unused.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    stage = {"cmd": "python -m stages.s", "deps": ["stages/s.py", "alexnet_pipeline/a.py"]}
    assert uncovered_modules(tmp_path, stage) == [
        "alexnet_pipeline/__init__.py", "alexnet_pipeline/b.py", "alexnet_pipeline/c.py",
        "alexnet_pipeline/d.py", "stages/__init__.py"]
    assert uncovered_modules(tmp_path, {**stage, "deps": ["stages", "alexnet_pipeline"]}) == []


def test_a_runtime_only_param_is_named() -> None:
    stage = {"params": ["base.seed", "preprocess", {"params.yaml": ["validate.workers"]}]}
    assert runtime_only_params(stage) == ["preprocess", "validate.workers"]
