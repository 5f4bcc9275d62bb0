"""The tests' fixtures (plain helpers are in helpers.py): a tiny copy of the project in a temp git
repo, a Prefect test server, the Kaggle stub."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any test imports TensorFlow
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from tests.helpers import make_project, run
from tests.kaggle_stub import KEY, USERNAME, KaggleStub, RunningStub


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project on which `dvc repro` has run once. The run is the slow part, so it happens
    once per test session: the first pytest-xdist worker to need it builds it under a lock, and
    each worker gets its own copy, which that worker's tests share in whatever order they run:
    a test that changes the project (params, commits, reruns) takes `project_copy` instead."""
    session_dir = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session_dir = session_dir.parent  # the folder all workers' temp folders share
    built, done = session_dir / "tiny-project-built", session_dir / "tiny-project-built.done"
    with (session_dir / "tiny-project-built.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(built, ignore_errors=True)  # a failed earlier attempt
            built.mkdir()
            run([sys.executable, "-m", "dvc", "repro"], make_project(built))
            done.touch()
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(built, project, symlinks=True, dirs_exist_ok=True)
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


def _start_order(item: pytest.Item) -> tuple[bool, float]:
    """Slow tests first, the longest of them first (`@pytest.mark.slow(seconds=N)`, measured with
    `pytest --durations`), then the rest; ties keep their usual order."""
    slow = item.get_closest_marker("slow")
    return slow is None, -(slow.kwargs.get("seconds", 0) if slow else 0)


def dealt(items: list, hands: int) -> list:
    """`items` dealt round-robin into `hands` parts, laid end to end. pytest-xdist's worksteal
    gives each worker one contiguous part of the collection at the start, `len(pending) //
    workers_left` tests each (the smaller parts first), and later steals from the end of a
    worker's queue: each worker then starts on its own share of the slowest tests instead of the
    first worker getting all of them."""
    sizes, left = [], len(items)
    for hands_left in range(hands, 0, -1):
        sizes.append(left // hands_left)
        left -= sizes[-1]
    parts: list[list] = [[] for _ in range(hands)]
    dealing = iter(items)
    for round_number in range(max(sizes, default=0)):
        for hand, size in enumerate(sizes):
            if round_number < size:  # the smaller first parts sit out the last round
                parts[hand].append(next(dealing))
    return [item for part in parts for item in part]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests (whole pipelines, training, servers) first, the longest first, spread over the
    pytest-xdist workers: the long ones start early and side by side instead of one after another
    on one worker."""
    items.sort(key=_start_order)
    items[:] = dealt(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
