"""Flow overrides change params.yaml like `dvc exp run -S`, line by line, or not at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alexnet_pipeline.config import load_params
from alexnet_pipeline.errors import ConfigError
from pipelines.overrides import apply_param_overrides
from tests.helpers import REPO_ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy2(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    pairs = zip(before.splitlines(), after.splitlines(), strict=True)
    return [(old, new) for old, new in pairs if old != new]


def test_overrides_rewrite_only_their_lines(project: Path) -> None:
    before = (project / "params.yaml").read_text()
    changed = apply_param_overrides(project, ["train.epochs=3", "data.local.path=/data/photos",
                                              "data.kaggle.version=2", "train.mixed_precision=bf16"])

    assert changed == {"train.epochs": 3, "data.local.path": "/data/photos", "data.kaggle.version": 2,
                       "train.mixed_precision": "bf16"}
    after = (project / "params.yaml").read_text()
    assert [new.split("#")[0].strip() for _, new in _changed_lines(before, after)] == [
        'path: "/data/photos"', "version: 2", "epochs: 3", "mixed_precision: bf16"]
    # comments stay with their lines
    assert all(old.partition("#")[2] == new.partition("#")[2] for old, new in _changed_lines(before, after))
    params = load_params(project / "params.yaml")
    assert params.train.epochs == 3 and params.data.kaggle.version == 2


def test_null_and_unchanged_values(project: Path) -> None:
    apply_param_overrides(project, ["data.kaggle.version=2"])
    assert apply_param_overrides(project, ["data.kaggle.version=null"]) == {"data.kaggle.version": None}
    assert (project / "params.yaml").read_text() == (REPO_ROOT / "params.yaml").read_text()
    assert apply_param_overrides(project, ["train.epochs=10"]) == {}


@pytest.mark.parametrize(("override", "message"), [
    ("train.epochz=3", "Could not override 'train.epochz'"),
    ("+train.extra=1", "unknown key `train.extra`"),
    ("+newsection.x=1", "unknown key `newsection`"),
    ("~train.epochs=10", "missing key `train.epochs`"),
    ("train.epochs=many", "`train.epochs` must be an integer, got 'many'"),
    ("train.epochs", "'train.epochs' is not key=value"),
    ("train.epochs=[1", "no viable alternative"),
])
def test_a_bad_override_is_a_clear_error_and_changes_nothing(project: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("+", r"\+")):
        apply_param_overrides(project, ["train.batch_size=4", override])
    assert (project / "params.yaml").read_text() == (REPO_ROOT / "params.yaml").read_text()
    assert [path.name for path in project.iterdir()] == ["params.yaml"]  # no scratch left behind


def test_dvcs_override_parser_is_the_one_this_was_written_against() -> None:
    """No public DVC command applies `-S` overrides without running the pipeline, so the flow
    uses the function `dvc exp run -S` itself calls, `dvc.utils.hydra.apply_overrides`. It is not
    a public API: this pins the DVC minor version and the signature it was written against."""
    import inspect
    from importlib.metadata import version

    from dvc.utils.hydra import apply_overrides

    assert version("dvc").split(".")[:2] == ["3", "67"], (
        f"dvc {version('dvc')}: check that pipelines/overrides.py still applies -S overrides as "
        "`dvc exp run -S` does (tests/pipelines/test_overrides.py), then update this pin")
    assert list(inspect.signature(apply_overrides).parameters) == ["path", "overrides"]
