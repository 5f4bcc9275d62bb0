"""run_stage: loads --params, runs the stage body, turns PipelineErrors into clean exits."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexnet_pipeline.config import Params
from alexnet_pipeline.core.stage_runner import run_stage
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
