"""Rollback end to end on the tiny project: v1 is blessed and registered, v2 replaces it, v2 is
rolled back to v1. The serving model's bytes are v1's again, production is on v1, the history
says which version served at three times, the next run gates against v1 (and refuses v2's
weights, failing `alexnet run` under gate.on_reject: fail), and a rollback that cannot be done
(an unknown version, the same version, the artifact missing from DVC's cache) changes nothing."""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alexnet_pipeline.registry import gto_tags
from pipelines.overrides import apply_param_overrides
from tests.helpers import run, tree_digests

pytestmark = pytest.mark.slow(seconds=150)
KEPT = ("models/blessed", "models/serving", "reports/model_history.jsonl")


def _alexnet(project: Path, *args: str, check: bool = True):
    return run([str(Path(sys.executable).parent / "alexnet"), *args], project, check=check)


def _dvc(project: Path, *args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args], project).stdout


def _state(project: Path) -> dict:
    """What a rollback may change: the blessed store, the serving model, the history, the tags."""
    return {"files": {name: tree_digests(project / name) if (project / name).is_dir()
                      else (project / name).read_text() for name in KEPT},
            "tags": run(["git", "tag"], project).stdout}


def _commit_and_register(project: Path, message: str) -> str:
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", message], project)
    return _alexnet(project, "models", "register").stdout.strip()


def _now() -> str:
    """This instant, then a pause, so that the next event's whole-second time is later."""
    instant = datetime.now(UTC).isoformat()
    time.sleep(1.1)
    return instant


def _serving_at(project: Path, when: str) -> str | None:
    return json.loads(_alexnet(project, "models", "history", "--at", when, "--json").stdout)["serving_version"]


def test_roll_back_v2_to_v1_and_the_next_run_gates_against_v1(project_copy: Path) -> None:
    project = project_copy
    for key, value in (("user.name", "Nightly"), ("user.email", "nightly@example.com")):
        run(["git", "config", key, value], project)
    before_any = "2000-01-01T00:00:00Z"
    assert _commit_and_register(project, "v1") == "registered v1.0.0 (stage production)"
    v1_serving, v1_blessed = tree_digests(project / "models/serving"), tree_digests(project / "models/blessed")
    at_v1 = _now()

    # v2: another learning rate; the tiny test split (12 images) cannot show a regression beyond noise
    apply_param_overrides(project, ["train.learning_rate=0.0003", "gate.min_accuracy=0.0"])
    _dvc(project, "repro")
    gate = json.loads((project / "reports/gate.json").read_text())
    assert gate["status"] == "promoted" and gate["serving_version"] == "v2.0.0"
    assert gate["comparison"]["images"] == 12 and gate["comparison"]["p_value"] >= 0.05
    assert _commit_and_register(project, "v2") == "registered v2.0.0 (stage production)"
    v2_card = _alexnet(project, "models", "card", "v2.0.0").stdout
    assert v2_card.startswith("# Model card: alexnet v2.0.0\n")
    at_v2 = _now()

    rolled = _alexnet(project, "models", "rollback", "v1.0.0", "--reason", "v2 was trained on mislabelled data")
    assert rolled.stdout.startswith("rolled back to v1.0.0 (was v2.0.0); stage production is on v1.0.0.")
    assert tree_digests(project / "models/serving") == v1_serving  # v1's serving model, byte for byte
    assert tree_digests(project / "models/blessed") == v1_blessed
    assert [(item["version"], item["stages"]) for item in gto_tags.versions(project)] == [
        ("v2.0.0", []), ("v1.0.0", ["production"])]
    at_rollback = _now()
    assert [_serving_at(project, when) for when in (before_any, at_v1, at_v2, at_rollback)] == [
        None, "v1.0.0", "v2.0.0", "v1.0.0"]
    told = _alexnet(project, "models", "history", "--at", at_v2).stdout
    assert told.startswith(f"at {datetime.fromisoformat(at_v2).isoformat()} v2.0.0 was serving (since ")
    history = [json.loads(line) for line in (project / "reports/model_history.jsonl").read_text().splitlines()]
    assert [(e["event"], e["outcome"], e["serving_version"]) for e in history] == [
        ("gate", "promoted", "v1.0.0"), ("gate", "promoted", "v2.0.0"), ("rollback", "rolled back", "v1.0.0")]
    assert history[2]["message"] == "v2 was trained on mislabelled data" and history[2]["replaced"] == "v2.0.0"
    assert history[2]["data_fingerprint"] == history[0]["data_fingerprint"]
    table = _alexnet(project, "models", "history").stdout.splitlines()
    assert table[0].split() == ["time", "outcome", "version", "serving", "data", "accuracy", "note"]
    assert table[3].split()[1:4] == ["rolled", "back", "v1.0.0"]
    listed = json.loads(_alexnet(project, "models", "--json").stdout)
    assert listed["local_blessed"] == "v1.0.0" and [row["card"] for row in listed["versions"]] == [
        "alexnet models card v2.0.0", "models/blessed/model_card.md"]

    # the next run gates against v1 and refuses v2's weights; under on_reject: fail `alexnet run` fails
    changed = json.loads(_dvc(project, "status", "--json"))
    assert "gate" in changed
    apply_param_overrides(project, ["gate.on_reject=fail"])
    failed = _alexnet(project, "run", check=False)
    assert failed.returncode == 1
    gate = json.loads((project / "reports/gate.json").read_text())
    assert gate["blessed"]["version"] == "v1.0.0" and gate["status"] == "rejected"
    assert [check["name"] for check in gate["checks"] if not check["passed"]] == ["not_rolled_back"]
    assert failed.stderr.strip().splitlines()[-1] == f"error: gate: {gate['message']} (see reports/gate.json)"
    assert "the candidate has the weights of v2.0.0, rolled back to v1.0.0" in gate["message"]
    assert tree_digests(project / "models/blessed") == v1_blessed

    # rollbacks that cannot be done change nothing
    before = _state(project)
    for args, message in (
            (["v9"], "error: model registry: no version 'v9'; registered: v2.0.0, v1.0.0 (or a stage: production)"),
            (["v1.0.0"], "error: model registry: v1.0.0 is the blessed model already; nothing to roll back")):
        refused = _alexnet(project, "models", "rollback", *args, "--reason", "x", check=False)
        assert (refused.returncode, refused.stderr.strip()) == (1, message)
    no_reason = _alexnet(project, "models", "rollback", "v2.0.0", check=False)
    assert no_reason.returncode == 1 and "--reason" in no_reason.stderr
    shutil.rmtree(project / ".dvc/cache")
    missing = _alexnet(project, "models", "rollback", "v2.0.0", "--reason", "x", check=False)
    assert missing.returncode == 1 and missing.stderr.startswith(
        "error: model registry: cannot fetch alexnet@v2.0.0: ")
    assert "dvc pull" in missing.stderr and "Traceback" not in missing.stderr
    assert _state(project) == before
    assert not list(project.glob(".rollback.*"))  # no scratch folder left behind
