"""DVC remote storage: `dvc push` from one clone, `dvc pull` into a fresh one, which is then up to
date: the pulled outputs are byte-identical and `dvc repro` reruns nothing but `source`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import run, tree_digests

pytestmark = pytest.mark.slow
DVC = [sys.executable, "-m", "dvc"]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
OUTPUTS = ("data/raw", "data/processed", "models", "reports/eval")


def test_push_then_pull_into_a_fresh_clone_reproduces_nothing(project_copy: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    run(DVC + ["remote", "add", "-d", "storage", str(remote)], project_copy)
    run(GIT + ["add", ".dvc/config", "dvc.lock", "reports/metrics.json", "reports/gate.json", "reports/drift.json",
                 "reports/model_history.jsonl"],
        project_copy)
    run(GIT + ["commit", "-qm", "pipeline results and their remote"], project_copy)
    pushed = run(DVC + ["push"], project_copy)
    assert "pushed" in pushed.stdout and any(remote.rglob("*"))

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project_copy), str(clone)], tmp_path)
    assert not (clone / "models").exists()  # git has the lock file and the metrics, not the data
    run(DVC + ["pull"], clone)

    for output in OUTPUTS:
        assert tree_digests(clone / output) == tree_digests(project_copy / output), output
    # only `source` (always_changed: it asks upstream) is not up to date
    assert json.loads(run(DVC + ["status", "--json"], clone).stdout) == {"source": ["always changed"]}
    reproduced = run(DVC + ["repro"], clone).stdout
    assert reproduced.count("Running stage") == 1 and "Running stage 'source'" in reproduced
