"""run_stage: loads --params, runs the stage body, turns PipelineErrors into clean exits, and
journals the run and the failure's message for the flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexnet_pipeline.config import Params
from alexnet_pipeline.core.stage_runner import (
    JOURNAL_ENV,
    JournalEntry,
    StageRecord,
    read_journal,
    run_stage,
    stage_record,
)
from alexnet_pipeline.errors import ConfigError, PipelineError
from tests.helpers import write_params


def test_body_gets_the_params_from_the_given_file(tmp_path: Path) -> None:
    params_file = write_params(tmp_path, report__title="From the test", train__epochs=3)
    seen: list[Params] = []
    run_stage("demo", seen.append, argv=["--params", str(params_file)])
    [params] = seen
    assert params.report.title == "From the test" and params.train.epochs == 3
    assert params.paths.raw == tmp_path / "data" / "raw"


def test_pipeline_error_exits_with_one_readable_line(tmp_path: Path, capsys) -> None:
    params_file = write_params(tmp_path)

    def body(params: Params) -> None:
        raise PipelineError("the dataset has no test split; add a test/ folder")

    with pytest.raises(SystemExit) as info:
        run_stage("preprocess", body, argv=["--params", str(params_file)])
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        "error: preprocess: the dataset has no test split; add a test/ folder\n")


def test_config_error_exits_with_code_2_naming_the_key(tmp_path: Path, capsys) -> None:
    params_file = write_params(tmp_path, base__image_size=32)
    ran = []
    with pytest.raises(SystemExit) as info:
        run_stage("train", ran.append, argv=["--params", str(params_file)])
    assert info.value.code == ConfigError.exit_code == 2
    assert ran == []
    err = capsys.readouterr().err
    assert err.startswith(f"error: train: {params_file}: `base.image_size` must be >= 67")


def test_missing_params_file(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        run_stage("download", lambda params: None, argv=[])
    assert info.value.code == 2
    assert "error: download: params.yaml: not found" in capsys.readouterr().err


def test_other_exceptions_are_not_hidden(tmp_path: Path) -> None:
    """A bug is not a user error: it keeps its traceback."""
    params_file = write_params(tmp_path)

    def body(params: Params) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_stage("evaluate", body, argv=["--params", str(params_file)])


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv(JOURNAL_ENV, str(path))
    return path


def test_a_failure_is_journaled_with_the_message_the_user_sees(tmp_path: Path, journal: Path,
                                                               capsys) -> None:
    params_file = write_params(tmp_path)
    message = "validation failed: 1 of 3 files are invalid:\n  a.jpg: not an image"

    def body(params: Params) -> None:
        raise PipelineError(message)

    run_stage("source", lambda params: None, argv=["--params", str(params_file)])
    with pytest.raises(SystemExit):
        run_stage("validate", body, argv=["--params", str(params_file)])
    assert capsys.readouterr().err == f"error: validate: {message}\n"
    assert read_journal(journal) == [JournalEntry("source", "ran"), JournalEntry("validate", "ran"),
                                     JournalEntry("validate", "failed", message)]
    assert stage_record(journal, "validate") == StageRecord(ran=True, error=message)
    assert stage_record(journal, "source") == StageRecord(ran=True, error=None)
    assert stage_record(journal, "train") == StageRecord(ran=False, error=None)


def test_a_missing_input_and_a_bad_params_file_are_journaled(tmp_path: Path, journal: Path) -> None:
    def body(params: Params) -> None:
        (tmp_path / "data" / "processed" / "train-0.tfrecord").read_bytes()

    with pytest.raises(SystemExit):
        run_stage("train", body, argv=["--params", str(write_params(tmp_path))])
    with pytest.raises(SystemExit):
        run_stage("evaluate", body, argv=["--params", str(tmp_path / "nothing.yaml")])
    missing = tmp_path / "data" / "processed" / "train-0.tfrecord"
    assert stage_record(journal, "train").error == (
        f"{missing}: not found; run the earlier stages first (dvc repro train)")
    bad_params = stage_record(journal, "evaluate").error
    assert bad_params.startswith(f"{tmp_path / 'nothing.yaml'}: not found")


def test_a_bug_is_journaled_by_its_exception_and_keeps_its_traceback(tmp_path: Path,
                                                                     journal: Path) -> None:
    def body(params: Params) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_stage("evaluate", body, argv=["--params", str(write_params(tmp_path))])
    assert stage_record(journal, "evaluate") == StageRecord(
        ran=True, error="KeyError: 'bug' (a bug: the traceback is in the stage's log)")


def test_a_journal_no_stage_wrote_reads_as_empty(tmp_path: Path) -> None:
    assert read_journal(tmp_path / "absent.jsonl") == []
    assert stage_record(tmp_path / "absent.jsonl", "train") == StageRecord(ran=False, error=None)
