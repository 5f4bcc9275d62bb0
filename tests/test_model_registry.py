"""Scheduled retraining that cannot replace a good model with a worse one: a tiny project runs
twice, the second time with a broken learning rate, through the Prefect flow; the second model
is not promoted, the serving model and the registry's production version stay the first's, and
the gate report, the run's final state and its artifact say why."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from alexnet_pipeline import cli
from alexnet_pipeline.core.contracts import DriftSummary, GateDecision, read_contract
from alexnet_pipeline.registry import gto_tags
from pipelines.flow import alexnet_pipeline, final_state
from pipelines.publish import GATE_KEY
from tests.helpers import run
from tests.pipelines.prefect_records import artifacts

pytestmark = pytest.mark.slow(seconds=110)


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def _alexnet(project: Path, *args: str) -> str:
    return run([str(Path(shutil.which("alexnet") or "alexnet")), *args], project).stdout


def _predict_in_process(project: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
                        *args: str) -> dict:
    """`alexnet predict ARGS` run by the CLI's own entry point in this process (TensorFlow is
    loaded once), from the project folder; its one JSON line."""
    monkeypatch.chdir(project)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli.main(["predict", *args])
    assert exited.value.code == 0
    return json.loads(capsys.readouterr().out)


def test_a_worse_second_run_is_not_promoted(project_copy: Path, prefect_harness, capsys: pytest.CaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project = project_copy
    for key, value in (("user.name", "Nightly"), ("user.email", "nightly@example.com")):
        run(["git", "config", key, value], project)
    first_gate = json.loads((project / "reports/gate.json").read_text())
    assert first_gate["status"] == "promoted" and first_gate["serving_version"] == "v1.0.0"
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "first run"], project)
    first_commit = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    assert _alexnet(project, "models", "register").strip() == "registered v1.0.0 (stage production)"
    serving, blessed = _tree_digest(project / "models/serving"), _tree_digest(project / "models/blessed")

    state = alexnet_pipeline(project_dir=str(project), overrides=["train.learning_rate=1e-12"], git_commit=True,
                             return_state=True)

    assert state.is_completed() and state.message == (
        "not promoted: test accuracy 0.2500 (gate.min_accuracy 0.3); the blessed model v1.0.0 stays in place")
    outcome = state.result()
    assert outcome["train"] == outcome["gate"] == "ran" and outcome["export"] == "skipped"
    gate = json.loads((project / "reports/gate.json").read_text())
    assert gate["status"] == "rejected" and gate["serving_version"] == "v1.0.0"
    assert gate["blessed"]["version"] == "v1.0.0" and gate["blessed"]["accuracy"] == first_gate["candidate"]["accuracy"]
    assert gate["candidate"]["version"] is None and gate["candidate"]["accuracy"] == 0.25
    # 12 test images cannot tell 0.25 from 0.33: the regression check passes (within noise), min_accuracy fails
    assert gate["reasons"] == ["test accuracy 0.2500 (gate.min_accuracy 0.3)"]
    regression = next(check for check in gate["checks"] if check["name"] == "max_regression")
    assert regression["passed"] and regression["detail"].startswith(
        "accuracy 0.2500 against the blessed v1.0.0's 0.3333 on the same 12 test images: -0.0833 (95% interval ")
    assert gate["comparison"]["images"] == 12 and gate["comparison"]["p_value"] > 0.05
    assert "rescored on this run's test split (12 images)" in gate["blessed_note"]
    assert _tree_digest(project / "models/serving") == serving
    assert _tree_digest(project / "models/blessed") == blessed
    registered = gto_tags.versions(project)
    assert [(item["version"], item["commit"], item["stages"]) for item in registered] == [
        ("v1.0.0", first_commit, ["production"])]
    markdown = artifacts(state)[GATE_KEY].data
    assert "## Model gate: Not promoted" in markdown and "Serving (blessed) version after this run: **v1.0.0**" in markdown
    assert "| test accuracy | 0.2500 | 0.3333 |" in markdown and "pass `max_regression`" in markdown
    assert "Paired on the same 12 test images: difference **-0.0833** (95% interval " in markdown
    assert "## Data drift" in markdown and "No drift found." in markdown and "0 changed, 44 unchanged" in markdown
    html = (project / "reports/report.html").read_text()
    assert html.index("Model gate: not promoted") < html.index("test accuracy<b>")

    # under gate.on_reject: fail the same decision fails the run; data drift under drift.on_drift: fail too
    decision = read_contract(GateDecision, project / "reports/gate.json")
    failing = final_state(decision.model_copy(update={"on_reject": "fail"}), outcome)
    assert failing.is_failed() and failing.message == state.message
    drifted = decision.model_copy(update={"status": "promoted", "drift": DriftSummary(
        drifted=True, findings=["classes changed: added none, removed ['rings']"], on_drift="fail")})
    assert final_state(drifted, outcome).message.startswith(
        "data drifted (drift.on_drift: fail): classes changed: added none, removed ['rings']")

    listed = json.loads(_alexnet(project, "models", "--json"))
    assert listed["local_blessed"] == "v1.0.0"
    assert [(item["version"], item["stages"], item["accuracy"]) for item in listed["versions"]] == [
        ("v1.0.0", ["production"], first_gate["candidate"]["accuracy"])]
    image = next((project / "data/raw/test/dots").iterdir())
    local = _predict_in_process(project, capsys, monkeypatch, "--version", "production", str(image))
    shutil.rmtree(project / "models/blessed")  # not here any more: fetched from v1.0.0's commit through DVC
    fetched = _predict_in_process(project, capsys, monkeypatch, "--version", "v1.0.0", str(image))
    assert fetched == local and len(local["top"]) == 3
