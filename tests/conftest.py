"""Shared fixtures: a tiny copy of the project (code, dvc.yaml, params.yaml) in a temp git repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.kaggle_stub import KEY, USERNAME, KaggleStub, RunningStub

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["dvc.yaml", "params.yaml", "prefect.yaml", ".dvcignore", ".gitignore"]
PROJECT_DIRS = ["alexnet_pipeline", "stages", "pipelines", ".dvc"]
# Small enough for a CPU test run: 67 px is the smallest input AlexNet's pooling allows.
TINY_PARAMS = {
    ("base", "image_size"): 67,
    ("data", "sample", "train_per_class"): 8,
    ("data", "sample", "test_per_class"): 3,
    ("data", "sample", "min_side"): 64,
    ("data", "sample", "max_side"): 96,
    ("preprocess", "shard_size"): 10,
    ("train", "epochs"): 2,
    ("train", "batch_size"): 8,
}


def venv_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin first on PATH, quiet TF."""
    return {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
            "TF_CPP_MIN_LOG_LEVEL": "2", "DVC_NO_ANALYTICS": "1"}


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command in `cwd`; on an unexpected failure show its whole output."""
    completed = subprocess.run(args, cwd=cwd, env=venv_env(), capture_output=True, text=True,
                               check=False)
    if check and completed.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}")
    return completed


def set_params(project: Path, overrides: dict[tuple[str, ...], object]) -> None:
    """Change values of the project's params.yaml in place."""
    params_path = project / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    for keys, value in overrides.items():
        section = params
        for key in keys[:-1]:
            section = section[key]
        section[keys[-1]] = value
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(root: Path) -> Path:
    """Copy the project's code and pipeline into `root` as a fresh git repo with tiny params."""
    for name in PROJECT_DIRS:
        shutil.copytree(REPO_ROOT / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "cache", "tmp"))
    for name in PROJECT_FILES:
        shutil.copy2(REPO_ROOT / name, root / name)
    set_params(root, TINY_PARAMS)
    run(["git", "init", "-q"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny project"], root)
    return root


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project on which `dvc repro` has run once (shared: the e2e run is the slow part)."""
    project = make_project(tmp_path_factory.mktemp("project"))
    run([sys.executable, "-m", "dvc", "repro"], project)
    return project


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server (its own database) that every flow run in the tests reports to."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def project_copy(tiny_project: Path, tmp_path: Path) -> Path:
    """A copy of the up-to-date tiny project (git, DVC cache and outputs) that a test may change."""
    copy = tmp_path / "project"
    shutil.copytree(tiny_project, copy, symlinks=True)
    return copy


@pytest.fixture
def kaggle_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Kaggle API stub on a free loopback port, with the client pointed at it (also in
    subprocesses, through the environment) and given the stub's credentials; HOME is a temp
    folder, so no real kaggle.json is read."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    stub = KaggleStub()
    with RunningStub(stub) as running:
        for name, value in running.client_env().items():
            monkeypatch.setenv(name, value)
        yield stub
