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


UNMEASURED_SLOW_S = 15.0  # what a slow test without `seconds=N` counts for when dealing
TINY_PROJECT_BUILD_S = 60.0  # the tiny project's `dvc repro` within `make test`, which its first user waits for


def estimated_seconds(item: pytest.Item) -> float:
    """A test's time when dealing: `@pytest.mark.slow(seconds=N)` (measured with `pytest
    --durations`), UNMEASURED_SLOW_S for another slow test, 0 for the rest."""
    slow = item.get_closest_marker("slow")
    return 0.0 if slow is None else float(slow.kwargs.get("seconds", UNMEASURED_SLOW_S))


def waits_for_tiny_project(item: pytest.Item) -> bool:
    return "tiny_project" in getattr(item, "fixturenames", ())


def first_round(items: list, hands: int, waits) -> list:
    """`items` (the longest first) with its first `hands` chosen so that one of them at most
    `waits` (on the tiny project, which one process builds while the others wait, idle): the
    longest that waits, then the longest that do not; the rest in their order."""
    first = [item for item in items if waits(item)][:1]
    first += [item for item in items if not waits(item)][:hands - len(first)]
    first += [item for item in items if all(item is not chosen for chosen in first)][:hands - len(first)]
    return first + [item for item in items if all(item is not chosen for chosen in first)]


def dealt(items: list, hands: int, seconds=lambda item: 0.0, waits=lambda item: False) -> list:
    """`items` (the longest first) dealt into `hands` parts laid end to end. pytest-xdist's
    worksteal gives each worker one contiguous part of the collection at the start, `len(pending)
    // workers_left` tests each (the smaller parts first), and later steals from the end of a
    worker's queue. Each test goes to the open part with the fewest estimated `seconds` so far
    (then the fewest tests, then the first), so that the long tests start early and side by side;
    the first part to start with a test that `waits` on the tiny project also carries its build."""
    sizes, left = [], len(items)
    for hands_left in range(hands, 0, -1):
        sizes.append(left // hands_left)
        left -= sizes[-1]
    parts: list[list] = [[] for _ in range(hands)]
    loads = [0.0] * hands
    building = True
    for item in first_round(items, hands, waits):
        hand = min((hand for hand in range(hands) if len(parts[hand]) < sizes[hand]),
                   key=lambda hand: (loads[hand], len(parts[hand]), hand))
        if building and waits(item):
            loads[hand] += TINY_PROJECT_BUILD_S
            building = False
        parts[hand].append(item)
        loads[hand] += seconds(item)
    return [item for part in parts for item in part]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests (whole pipelines, training, servers) first, the longest first, spread over the
    pytest-xdist workers by their measured time: the long ones start early and side by side
    instead of one after another on one worker, and only one worker waits while the tiny project
    is built."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, -estimated_seconds(item)))
    items[:] = dealt(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), estimated_seconds,
                     waits_for_tiny_project)
