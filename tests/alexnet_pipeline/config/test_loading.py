"""Reading params.yaml: YAML 1.2 scalars, the file named in every error, and all of a file's
problems in one ConfigError."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from alexnet_pipeline.config import load_params
from alexnet_pipeline.config.loading import read_yaml
from alexnet_pipeline.errors import ConfigError
from tests.helpers import REPO_ROOT, SHIPPED_PARAMS, set_key, shipped_params_dict


def _shipped_with(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """The shipped params.yaml, comments and all, with the one line starting `old` (indent
    included) starting `new` instead."""
    text = SHIPPED_PARAMS.read_text(encoding="utf-8")
    for old, new in replacements:
        assert len(re.findall(f"^{re.escape(old)}", text, re.MULTILINE)) == 1, old
        text = re.sub(f"^{re.escape(old)}", lambda _, new=new: new, text, flags=re.MULTILINE)
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_three_mistakes_are_one_config_error_that_lists_them_all(tmp_path: Path) -> None:
    """A wrong type, a value out of range and a misspelt key: three problems, nothing else (the
    misspelt key's missing twin is not a fourth)."""
    path = _shipped_with(tmp_path, ("  seed: 42 ", "  seed: forty-two "), ("  epochs: 10 ", "  epochs: 0 "),
                         ("  batch_size: 16 ", "  batchsize: 16 "))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == (f"{path}: 3 problems:\n"
                               "  - `base.seed` must be an integer, got 'forty-two'\n"
                               "  - `train.epochs` must be >= 1, got 0\n"
                               "  - unknown key `train.batchsize`; did you mean `train.batch_size`?")


def test_one_problem_keeps_the_one_line_form(tmp_path: Path) -> None:
    path = _shipped_with(tmp_path, ("  epochs: 10 ", "  epochs: ten "))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == f"{path}: `train.epochs` must be an integer, got 'ten'"


@pytest.mark.parametrize(
    ("text", "value"),
    [("1e-4", 1e-4), ("1E-4", 1e-4), ("1e-05", 1e-5), ("1.0e-4", 1e-4), ("-2.5e+3", -2500.0), (".5", 0.5),
     ("off", "off"), ("no", "no"), ("on", "on"), ("yes", "yes"), ("Off", "Off"), ("y", "y"),
     ("true", True), ("false", False), ("True", True),
     ("null", None), ("~", None), ("", None),
     ("12:30", "12:30"), ("0.0001", 1e-4), ("3", 3), ("'3'", "3"), ("'off'", "off")],
)
def test_scalars_are_read_as_yaml_1_2(text: str, value: object) -> None:
    loaded = read_yaml(f"key: {text}\n")["key"]
    assert loaded == value and type(loaded) is type(value)


def test_yaml_1_2_values_load_into_typed_params(tmp_path: Path) -> None:
    """What PyYAML (YAML 1.1) misread: `1e-4` is a number, a bare `off` is the string `off`."""
    path = _shipped_with(tmp_path, ("  learning_rate: 0.0001 ", "  learning_rate: 1e-4 "),
                         ("  mixed_precision: auto ", "  mixed_precision: off "),
                         ("  title: AlexNet pipeline report ", "  title: yes "))
    params = load_params(path)
    assert params.train.learning_rate == 1e-4 and params.train.mixed_precision == "off"
    assert params.report.title == "yes"


def test_a_bare_yes_where_a_boolean_belongs_is_refused(tmp_path: Path) -> None:
    path = _shipped_with(tmp_path, ("  flip: true ", "  flip: yes "))
    with pytest.raises(ConfigError, match=r"`train\.flip` must be true or false, got 'yes'$"):
        load_params(path)


def test_values_as_dvc_exp_run_s_writes_them_load(tmp_path: Path) -> None:
    """`dvc exp run -S` types values with Hydra's grammar and writes them with ruamel's round-trip
    dumper: floats in exponent form, `off` and `yes` bare, None as nothing or `null`."""
    round_trip = YAML()
    document = round_trip.load(SHIPPED_PARAMS.read_text(encoding="utf-8"))
    document["train"]["learning_rate"] = 1e-05
    document["train"]["mixed_precision"] = "off"
    document["report"]["title"] = "yes"
    document["data"]["kaggle"]["version"] = 3
    document["gate"]["min_class_recall"] = None
    document["drift"]["p_value"] = 1e-3
    buffer = io.StringIO()
    round_trip.dump(document, buffer)
    text = buffer.getvalue()
    assert "learning_rate: 1e-05" in text and "mixed_precision: off" in text and "title: yes" in text
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    params = load_params(path)
    assert params.train.learning_rate == 1e-05 and params.train.mixed_precision == "off"
    assert params.report.title == "yes" and params.data.kaggle.version == 3
    assert params.gate.min_class_recall is None and params.drift.p_value == 1e-3


def test_load_params_names_the_file_in_errors(tmp_path: Path) -> None:
    data = shipped_params_dict()
    set_key(data, "train.epochs", "ten")
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value).startswith(f"{path}: `train.epochs`")


def test_load_params_names_its_file_once_and_keeps_the_value(tmp_path: Path) -> None:
    """Only the message's `params.yaml:` prefix becomes the file's path, not a value that says it."""
    data = shipped_params_dict()
    set_key(data, "data.kaggle.dataset", "params.yaml")
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == (f"{path}: `data.kaggle.dataset` must be owner/slug (e.g. "
                               "tongpython/cat-and-dog), got 'params.yaml'")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("base:\n  seed: 42\n  image_size: [227\n",
         ("line 4, column 1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 3, "
         "column 15)")),
        ("base:\n  seed: 42\n  seed: 43\n",
         ('line 3, column 3: found duplicate key "seed" with value "43" (original value: "42") (while constructing '
         "a mapping at line 2, column 3)")),
        ("base: seed: 42\n", "line 1, column 11: mapping values are not allowed here"),
        # a context without a place of its own
        ("base:\n  seed: 42\n  image_size: @227\n",
         "line 3, column 15: found character '@' that cannot start any token (while scanning for the next token)"),
        # only a context, with its place: a block scalar's blank first line sets its indent
        ("report:\n  title: |\n   \n     AlexNet\n",
         "line 4, column 6: more indented follow up line than first in a block scalar"),
        # a tag its value does not fit, and a YAML version ruamel does not read: Python's own errors
        ("base:\n  seed: !!int forty-two\n", "invalid literal for int() with base 10: 'forty-two'"),
        ("%YAML 1.3\n---\nbase: {}\n", "version minor part can only be 2 or 1, got (1, 3)"),
    ],
)
def test_invalid_yaml_is_a_config_error_with_line_and_column(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == f"{path}: not valid YAML: {problem}"


def test_a_character_yaml_does_not_allow_is_a_config_error_with_its_position(tmp_path: Path) -> None:
    """A terminal's colour codes pasted into a value: ruamel names the character and where it is
    in the text (from 0), on one line."""
    path = tmp_path / "params.yaml"
    path.write_text("report:\n  title: \x1b[1mAlexNet\x1b[0m\n")
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == (f"{path}: not valid YAML: unacceptable character #x001b: special characters are "
                               'not allowed in "<unicode string>", position 17')


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "just text\n"])
def test_non_mapping_document_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: the top level must be a mapping, got "):
        load_params(path)


@pytest.mark.parametrize(("text", "where"), [("report:\n  title: caf\u00e9\n", "line 2, column 13"),
                                             ("\u00e9", "line 1, column 1"), ("a\n\u00e9", "line 2, column 1")])
def test_a_file_that_is_not_utf_8_is_a_config_error_naming_the_byte(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_bytes(text.encode("latin-1"))  # é is byte 0xe9 in Latin-1
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == f"{path}: not UTF-8 text: byte 0xe9 at {where}; save the file as UTF-8"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_load_params_reads_params_yaml_of_the_working_directory(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^params\.yaml: not found; run from the project root"):
        load_params()
    (tmp_path / "params.yaml").write_text(SHIPPED_PARAMS.read_text())
    assert load_params() == load_params(SHIPPED_PARAMS)


def test_params_yaml_is_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    """A non-ASCII title loads in this process and in one whose locale is ASCII (no UTF-8 mode)."""
    title = "Chats et chiens – über alles"
    data = shipped_params_dict()
    set_key(data, "report.title", title)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_params(path).report.title == title
    code = ("import sys; from alexnet_pipeline.config import load_params; "
            "sys.stdout.buffer.write(load_params(sys.argv[1]).report.title.encode('utf-8'))")
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    shown = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO_ROOT, env=env,
                           capture_output=True, check=True)
    assert shown.stdout.decode("utf-8") == title
