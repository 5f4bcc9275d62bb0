"""Flow overrides change params.yaml like `dvc exp run -S`, line by line, or not at all.

The expected values are what `dvc exp run -S` (DVC 3.67, Hydra 1.3) wrote for the same overrides.
params.yaml is YAML 1.2 (ruamel.yaml, as DVC reads it): `yes` and `off` are strings."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

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
    ("~train.epochs", "missing key `train.epochs`"),
    ("~train.epochs=3", "Could not delete 'train.epochs': its value is 10, not 3"),
    ("~data.kaggle.version", "Could not delete 'data.kaggle.version': params.yaml has no value"),
    ("+train.epochs=3", "Could not add 'train.epochs': params.yaml has it already"),
    ("train.epochs=3,4", "train.epochs=3,4: a sweep (several values) cannot be written"),
    ("train=3", "`train` must be a mapping"),
    ("data@kaggle=1", "data@kaggle=1: `@package` selects a Hydra config group"),
    ("train.epochs=many", "`train.epochs` must be an integer, got 'many'"),
    ("train.epochs=10.0", "`train.epochs` must be an integer, got 10.0"),  # 10.0 is not the 10
    ("train.flip=1", "`train.flip` must be true or false, got 1"),  # nor is 1 the true there
    ("train.epochs", "'train.epochs' is not key=value"),
    ("train.epochs=[1", "no viable alternative"),
])
def test_a_bad_override_is_a_clear_error_and_changes_nothing(project: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        apply_param_overrides(project, ["train.batch_size=4", override])
    assert (project / "params.yaml").read_text() == (REPO_ROOT / "params.yaml").read_text()
    assert [path.name for path in project.iterdir()] == ["params.yaml"]  # no scratch left behind


def test_values_are_typed_as_dvc_exp_run_types_them(project: Path) -> None:
    before = (project / "params.yaml").read_text()
    changed = apply_param_overrides(project, [
        "train.learning_rate=5e-4", "train.epochs=1_000", "train.flip=false",
        "gate.min_class_recall=0.3",
        "validate.allowed_formats=[JPEG,PNG]", "report.title='3'", "train.lr_plateau.patience=2",
        "+data.kaggle.version=2", "++train.batch_size=8", "drift.on_drift=fail"])

    assert changed == {"train.learning_rate": 0.0005, "train.epochs": 1000, "train.flip": False,
                       "gate.min_class_recall": 0.3, "validate.allowed_formats": ["JPEG", "PNG"],
                       "report.title": "3", "train.lr_plateau.patience": 2,
                       "data.kaggle.version": 2,
                       "train.batch_size": 8, "drift.on_drift": "fail"}
    after = (project / "params.yaml").read_text()
    assert sorted(new.split("#")[0].strip() for _, new in _changed_lines(before, after)) == sorted([
        "version: 2", "allowed_formats: [JPEG, PNG]", "epochs: 1000", "batch_size: 8",
        "learning_rate: 0.0005", "patience: 2", "flip: false", "min_class_recall: 0.3",
        "on_drift: fail", "title: '3'"])
    params = load_params(project / "params.yaml")
    assert params.train.learning_rate == 0.0005
    assert params.train.flip is False and params.report.title == "3"
    assert params.validate.allowed_formats == ("JPEG", "PNG")

    changed = apply_param_overrides(project, ["gate.min_class_recall=null"])
    assert changed == {"gate.min_class_recall": None}
    assert load_params(project / "params.yaml").gate.min_class_recall is None


@pytest.mark.parametrize("title", ["yes", "off", "12:30"])
def test_a_string_yaml_1_1_reads_as_another_type_stays_a_string(project: Path, title: str) -> None:
    """`dvc exp run -S report.title=yes` writes `title: yes`, a string in YAML 1.2 (PyYAML's 1.1
    would read true)."""
    assert apply_param_overrides(project, [f"report.title={title}"]) == {"report.title": title}
    assert load_params(project / "params.yaml").report.title == title
    [line] = [line for line in (project / "params.yaml").read_text().splitlines() if line.startswith("  title:")]
    assert line.split("#")[0].strip() == f"title: {title}"  # bare, as `dvc exp run -S` writes it


def test_an_interpolation_takes_the_value_it_names(project: Path) -> None:
    changed = apply_param_overrides(project, ["report.title=run ${train.epochs}"])
    assert changed == {"report.title": "run 10"}
    with pytest.raises(ConfigError, match="nothing"):
        apply_param_overrides(project, ["report.title=${nothing}"])


def test_the_last_override_of_a_key_wins(project: Path) -> None:
    changed = apply_param_overrides(project, ["train.epochs=3", "train.epochs=4"])
    assert changed == {"train.epochs": 4}


def test_writing_null_changes_no_other_ruamel_writer(project: Path) -> None:
    """The flow writes None as `null`; a plain ruamel YAML in the same process (tools/stage_deps.py
    writing dvc.yaml's bare `params.yaml:` key) still writes nothing."""
    apply_param_overrides(project, ["gate.min_class_recall=0.3", "gate.min_class_recall=null"])
    assert "  min_class_recall: null " in (project / "params.yaml").read_text()
    written = io.StringIO()
    YAML().dump({"params.yaml": None}, written)
    assert written.getvalue() == "params.yaml:\n"
