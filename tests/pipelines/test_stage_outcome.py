"""What the flow says DVC did to a stage ("ran", "skipped", "restored") and why a stage failed
come from dvc.lock and the stages' run journal, not from DVC's log text; checked on a small DVC
project whose stage command counts its own runs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml

from alexnet_pipeline.core.stage_runner import (
    JOURNAL_ENV,
    JournalEntry,
    StageRecord,
    read_journal,
    run_stage,
)
from pipelines.commands import Finished
from pipelines.flow import StageFailed, alexnet_pipeline, outcome, repro_stage, stage_error
from tests.helpers import REPO_ROOT, run, set_params, write_params

LOG = logging.getLogger(__name__)
# What the stage says when asked to fail: a line of it looks like DVC's own closing `ERROR:` line
FAILURE = "asked to fail:\nERROR: this line is the stage's message too, though it looks like DVC's"
# The stage's command goes through the real entry point (`run_stage`), so it journals itself;
# it also appends to commands.log, which DVC does not track: the test's own count of its runs.
STAGE_SCRIPT = '''\
import sys
from pathlib import Path

from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.errors import PipelineError

NAME = sys.argv[1]
FAILURE = __FAILURE__


def main(params):
    if params.report.title == "fail":
        raise PipelineError(FAILURE)
    if params.report.title == "bug":
        raise KeyError("bug")
    with open("commands.log", "a") as log:
        log.write(f"{NAME} {params.report.title}\\n")
    Path(f"{NAME}.txt").write_text(params.report.title)


run_stage(NAME, main, argv=["--params", "params.yaml"])
'''.replace("__FAILURE__", repr(FAILURE))
DVC_YAML = {"stages": {
    "make": {"cmd": "python stage.py make", "deps": ["stage.py"], "params": ["report.title"],
             "outs": ["make.txt"]},
    "source": {"cmd": "python stage.py source", "deps": ["stage.py"], "params": ["report.title"],
               "outs": ["source.txt"]},  # the flow's first stage, for a one-stage flow run
    "lost": {"cmd": "python stage.py lost", "deps": ["missing.txt"], "outs": ["lost.txt"]},
    "check": {"cmd": "python stage.py check", "deps": ["stage.py"], "always_changed": True,
              "outs": ["check.txt"]},
}}


def _set_title(project: Path, title: str) -> None:
    set_params(project, {("report", "title"): title})


def _commands(project: Path) -> list[str]:
    log = project / "commands.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git + DVC project with the two stages above, never reproduced."""
    root = tmp_path / "project"
    write_params(root, report__title="A")
    (root / "stage.py").write_text(STAGE_SCRIPT)
    (root / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    return root


def test_a_stale_stage_runs_and_an_up_to_date_one_is_skipped(project: Path) -> None:
    assert repro_stage("make", str(project), LOG) == "ran"
    assert _commands(project) == ["make A"]
    assert repro_stage("make", str(project), LOG) == "skipped"
    assert _commands(project) == ["make A"]  # the command did not run again

    _set_title(project, "B")
    assert repro_stage("make", str(project), LOG) == "ran"
    assert _commands(project) == ["make A", "make B"]
    assert (project / "make.txt").read_text() == "B"


def test_inputs_of_an_earlier_run_restore_its_outputs_from_the_run_cache(project: Path) -> None:
    repro_stage("make", str(project), LOG)
    _set_title(project, "B")
    repro_stage("make", str(project), LOG)

    _set_title(project, "A")
    assert repro_stage("make", str(project), LOG) == "restored"
    assert _commands(project) == ["make A", "make B"]  # DVC checked the outputs out, ran nothing
    assert (project / "make.txt").read_text() == "A"


def test_deleted_outputs_with_the_lock_unchanged_are_restored(project: Path) -> None:
    repro_stage("make", str(project), LOG)
    lock = (project / "dvc.lock").read_text()
    (project / "make.txt").unlink()

    assert repro_stage("make", str(project), LOG) == "restored"
    assert (project / "make.txt").read_text() == "A"
    assert _commands(project) == ["make A"]
    assert (project / "dvc.lock").read_text() == lock


def test_an_always_changed_stage_runs_every_time(project: Path) -> None:
    assert [repro_stage("check", str(project), LOG) for _ in range(2)] == ["ran", "ran"]
    assert _commands(project) == ["check A", "check A"]


def test_a_failed_stage_raises_the_message_it_journaled(project: Path) -> None:
    _set_title(project, "fail")
    with pytest.raises(StageFailed) as info:
        repro_stage("make", str(project), LOG)
    # all of it, though a line looks like DVC's `ERROR:` line, which ended a message read from logs
    assert (info.value.stage, info.value.text) == ("make", FAILURE)


def test_a_bug_in_a_stage_is_named_by_its_exception(project: Path) -> None:
    _set_title(project, "bug")
    with pytest.raises(StageFailed) as info:
        repro_stage("make", str(project), LOG)
    assert info.value.text == "KeyError: 'bug' (a bug: the traceback is in the stage's log)"


def test_dvc_failing_before_the_stage_runs_shows_dvcs_exit_and_output(project: Path) -> None:
    with pytest.raises(StageFailed) as info:
        repro_stage("lost", str(project), LOG)
    first, *output = info.value.text.splitlines()
    assert re.fullmatch(r"dvc exit [1-9]\d* before the stage's command ran:", first)
    assert any("missing.txt" in line for line in output)


def test_the_flow_fails_with_the_stages_journaled_message(project: Path, prefect_harness) -> None:
    _set_title(project, "fail")
    state = alexnet_pipeline(project_dir=str(project), until="source", return_state=True)
    assert state.is_failed() and not state.is_crashed()
    assert state.message == f"stage source failed: {FAILURE}"


def test_the_journaled_error_is_the_message_dvcs_output_only_stands_in() -> None:
    output = Finished(1, ["error: validate: what the log says",
                          "ERROR: failed to reproduce 'validate'"])
    journaled = StageRecord(ran=True, error="what the journal says")
    assert stage_error(journaled, output) == "what the journal says"
    assert stage_error(StageRecord(ran=True, error=None), output) == (
        "dvc exit 1 after the stage's command, which recorded no error:\n"
        "error: validate: what the log says\nERROR: failed to reproduce 'validate'")
    never_ran = StageRecord(ran=False, error=None)
    assert stage_error(never_ran, Finished(255, ["ERROR: unexpected error"])) == (
        "dvc exit 255 before the stage's command ran:\nERROR: unexpected error")


def test_outcome_needs_both_the_lock_and_the_journal() -> None:
    assert outcome(command_ran=True, outputs_replaced=True) == "ran"
    assert outcome(command_ran=True, outputs_replaced=False) == "ran"  # same outputs, rewritten
    assert outcome(command_ran=False, outputs_replaced=True) == "restored"
    assert outcome(command_ran=False, outputs_replaced=False) == "skipped"


def test_run_stage_journals_its_name_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params_file = write_params(tmp_path)
    monkeypatch.delenv(JOURNAL_ENV, raising=False)
    run_stage("demo", lambda params: None, argv=["--params", str(params_file)])
    assert list(tmp_path.iterdir()) == [params_file]  # no journal anywhere

    journal = tmp_path / "journal"
    monkeypatch.setenv(JOURNAL_ENV, str(journal))
    for name in ("first", "second"):
        run_stage(name, lambda params: None, argv=["--params", str(params_file)])
    assert read_journal(journal) == [JournalEntry("first", "ran"), JournalEntry("second", "ran")]


def test_every_pipeline_stage_runs_through_run_stage_under_its_own_name() -> None:
    """Else the journal misses the stage, and a run of it would read as a restore."""
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert stage["cmd"] == f"python -m stages.{name}", name
        source = (REPO_ROOT / "stages" / f"{name}.py").read_text()
        assert re.search(rf"run_stage\(\"{name}\", ", source), name
