"""The Prefect flow runs each stage through DVC, which decides what is stale; failures end the
run Failed with a readable message; retries, the train timeout and the post-steps are real."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from PIL import Image

from pipelines.flow import STAGES, alexnet_pipeline
from pipelines.publish import METRICS_KEY, REPORT_KEY
from tests.helpers import cat_and_dog_zip, make_project, run, set_params
from tests.kaggle_stub import KaggleStub
from tests.pipelines.prefect_records import artifacts, state_names, task_runs

pytestmark = pytest.mark.slow
OUTPUTS = ("models/alexnet.keras", "reports/metrics.json", "reports/report.html", "models/serving/saved_model.pb")


def _mtimes(project: Path) -> dict[str, int]:
    return {name: (project / name).stat().st_mtime_ns for name in OUTPUTS}


def _git(project: Path, *args: str) -> str:
    return run(["git", *args], project).stdout.strip()


def test_up_to_date_project_trains_nothing_and_publishes_artifacts(tiny_project: Path, prefect_harness) -> None:
    before, lock = _mtimes(tiny_project), (tiny_project / "dvc.lock").read_text()
    state = alexnet_pipeline(project_dir=str(tiny_project), return_state=True)

    assert state.is_completed()
    # `source` always runs (it asks whether the data changed upstream); nothing else does
    assert state.result() == {stage: "ran" if stage == "source" else "skipped" for stage in STAGES}
    assert _mtimes(tiny_project) == before  # train wrote no model; no stage wrote anything
    assert (tiny_project / "dvc.lock").read_text() == lock
    runs = task_runs(state)
    assert {stage for stage in STAGES if runs[stage].state.is_completed()} == set(STAGES)
    published = artifacts(state)
    assert published[REPORT_KEY].data == f"[reports/report.html]({(tiny_project / 'reports/report.html').as_uri()})"
    table = published[METRICS_KEY].data
    assert "**Stages run:** source; **up to date:** download, validate" in table
    assert "| metric | new | old | change |" in table and "| accuracy |" in table
    assert str(tiny_project / "reports/report.html") in table


def test_an_override_reruns_only_what_it_makes_stale(project_copy: Path, prefect_harness) -> None:
    params_before = (project_copy / "params.yaml").read_text()
    state = alexnet_pipeline(project_dir=str(project_copy), overrides=["report.title=Changed title"],
                             return_state=True)

    assert state.result() == {stage: "ran" if stage in ("source", "report") else "skipped" for stage in STAGES}
    assert "Changed title" in (project_copy / "reports/report.html").read_text()
    # the override is in params.yaml, as after `dvc exp run -S`, and nothing else changed there
    params = yaml.safe_load((project_copy / "params.yaml").read_text())
    old_params = yaml.safe_load(params_before)
    assert params["report"].pop("title") == "Changed title"
    old_title = old_params["report"].pop("title")
    assert params == old_params

    # back to the old title: DVC's run cache has that report, so it is restored, not rendered
    state = alexnet_pipeline(project_dir=str(project_copy), overrides=[f"report.title={old_title}"],
                             return_state=True)
    assert state.result()["report"] == "restored"
    assert yaml.safe_load((project_copy / "params.yaml").read_text()) == yaml.safe_load(params_before)
    assert "Changed title" not in (project_copy / "reports/report.html").read_text()


def test_a_bad_override_fails_the_run_and_leaves_params_alone(project_copy: Path, prefect_harness) -> None:
    params_before = (project_copy / "params.yaml").read_text()
    state = alexnet_pipeline(project_dir=str(project_copy), overrides=["train.epochs=many"], return_state=True)

    assert state.is_failed() and not state.is_crashed()
    assert "`train.epochs` must be an integer, got 'many'" in state.message
    assert (project_copy / "params.yaml").read_text() == params_before
    assert "source" not in task_runs(state)  # no stage ran on params the run did not ask for


def test_validation_failure_fails_the_flow_with_its_summary(tmp_path: Path, prefect_harness) -> None:
    images = tmp_path / "images"
    for split, count in (("train", 3), ("test", 1)):
        for label, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
            folder = images / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                Image.new("RGB", (64, 64), colour).save(folder / f"{index}.jpg")
    (images / "train" / "red" / "notes.jpg").write_text("not an image")
    project = make_project(tmp_path / "project")
    set_params(project, {("data", "source"): "local", ("data", "local", "path"): str(images)})

    state = alexnet_pipeline(project_dir=str(project), return_state=True)

    assert state.is_failed() and state.name == "Failed"
    message_lines = state.message.splitlines()
    assert message_lines[0] == "validation failed: 1 of 9 files are invalid:"
    assert any(line.startswith("  train/red/notes.jpg: not an image") for line in message_lines)
    assert "validate.on_invalid: quarantine" in state.message
    assert message_lines[-1] == "Full report: reports/validation.json"
    runs = task_runs(state)
    assert runs["validate"].state.is_failed() and "preprocess" not in runs


def test_download_fails_twice_then_succeeds_on_retries(tmp_path: Path, kaggle_stub: KaggleStub,
                                                       prefect_harness) -> None:
    kaggle_stub.datasets["tester/cat-and-dog"] = {1: cat_and_dog_zip(per_class=3)}
    kaggle_stub.blob_failures = [503, 503]  # the archive's storage fails the first two downloads
    project = make_project(tmp_path / "project")
    set_params(project, {("data", "source"): "kaggle", ("data", "kaggle", "dataset"): "tester/cat-and-dog",
                         ("data", "kaggle", "cache_dir"): str(tmp_path / "cache"),
                         ("data", "kaggle", "retries"): 0})  # no retries inside the client: the task's only

    state = alexnet_pipeline(project_dir=str(project), until="download", download_retries=2,
                             retry_delay_s=0.5, return_state=True)

    assert state.is_completed(), state.message
    assert state.result() == {"source": "ran", "download": "ran"}
    download = task_runs(state)["download"]
    assert download.run_count == 3
    assert state_names(download.id) == ["Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry",
                                        "Retrying", "Completed"]
    assert state_names(task_runs(state)["source"].id) == ["Pending", "Running", "Completed"]
    assert [call["path"] for call in kaggle_stub.blob_gets()] == ["/storage/datasets/tester/cat-and-dog/1"] * 3
    assert sorted(path.name for path in (project / "data/raw/train").iterdir()) == ["cats", "dogs"]


def test_train_over_its_timeout_stops_the_run_and_its_processes(project_copy: Path, prefect_harness) -> None:
    state = alexnet_pipeline(project_dir=str(project_copy), overrides=["train.epochs=3"], train_timeout_s=4,
                             return_state=True)

    assert state.is_failed() and state.name == "TimedOut"
    assert state.message.startswith("train: stopped after the 4 s limit (flow parameter train_timeout_s)")
    runs = task_runs(state)
    assert runs["train"].state.name == "TimedOut" and "evaluate" not in runs
    time.sleep(0.5)  # let init reap the stopped processes
    leftovers = [process for process in psutil.process_iter(["cwd", "status"])
                 if process.info["cwd"] == str(project_copy) and process.info["status"] != psutil.STATUS_ZOMBIE]
    assert leftovers == []  # dvc and the train stage under it were stopped, not orphaned


@pytest.mark.slow(seconds=50)
def test_push_commit_and_register_after_a_run(project_copy: Path, prefect_harness) -> None:
    """The post-steps on the tiny project as its first `dvc repro` left it (outputs built, nothing
    committed but the code): the stages themselves ran there, so the flow finds them up to date
    instead of training a second time (the other tests here run stages through the flow)."""
    project = project_copy
    remote = project.parent / "remote"
    run([sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(remote)], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "remote", "--", ".dvc/config"],
        project)
    run(["git", "config", "user.name", "Pipeline"], project)
    run(["git", "config", "user.email", "pipeline@example.com"], project)
    first_commit = _git(project, "rev-parse", "HEAD")

    state = alexnet_pipeline(project_dir=str(project), dvc_push=True, git_commit=True, return_state=True)

    assert state.is_completed(), state.message
    assert state.result() == {stage: "ran" if stage == "source" else "skipped" for stage in STAGES}
    for name in OUTPUTS:
        assert (project / name).is_file(), name
    assert set(task_runs(state)) == {*STAGES, "publish results", "dvc push", "git commit", "register model"}
    # the commit holds dvc.lock and the metrics (kept in git); DVC has every cached output remotely
    assert _git(project, "rev-parse", "HEAD~1") == first_commit
    assert sorted(_git(project, "show", "--name-only", "--format=", "HEAD").split()) == [
        "dvc.lock", "reports/drift.json", "reports/gate.json", "reports/metrics.json", "reports/model_history.jsonl"]
    # the blessed model is registered on that commit, in production
    assert _git(project, "rev-list", "-n", "1", "alexnet@v1.0.0") == _git(project, "rev-parse", "HEAD")
    assert _git(project, "log", "-1", "--format=%s").startswith("alexnet_pipeline run ")
    body = _git(project, "log", "-1", "--format=%b")
    assert body == "Stages: source (ran)."  # the others were up to date
    status = run([sys.executable, "-m", "dvc", "status", "--cloud", "--json"], project).stdout
    assert yaml.safe_load(status) == {}  # nothing is missing from the remote
    assert _git(project, "status", "--porcelain", "--", "dvc.lock", "reports/metrics.json") == ""

    assert "Baseline: none (no metrics committed at HEAD" in artifacts(state)[METRICS_KEY].data

    again = alexnet_pipeline(project_dir=str(project), git_commit=True, return_state=True)
    assert again.is_completed() and again.result()["train"] == "skipped"
    assert _git(project, "rev-parse", "HEAD~1") == first_commit  # nothing new to commit
    # the metrics artifact now compares with the metrics the first run committed: no change
    accuracy = json.loads((project / "reports/metrics.json").read_text())["accuracy"]
    table = artifacts(again)[METRICS_KEY].data
    assert f"| accuracy | {accuracy:.4f} | {accuracy:.4f} | +0.0000 |" in table
    assert "Baseline: the metrics committed at HEAD." in table


def test_alexnet_flow_prints_a_failed_run_without_a_traceback(project_copy: Path) -> None:
    completed = subprocess.run([str(Path(sys.executable).parent / "alexnet"), "flow", "--project-dir",
                                str(project_copy), "-S", "train.epochz=3"],
                               capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 1
    assert "error: flow run Failed: overrides ['train.epochz=3']: Could not override 'train.epochz'" \
        in completed.stderr
    assert "Traceback" not in completed.stderr
