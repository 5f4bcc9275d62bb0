"""Read params.yaml (YAML 1.2) into `Params`; any problem is one `ConfigError` that lists them all.

YAML 1.2 (ruamel.yaml), not PyYAML's 1.1: `1e-4` is a number, as `dvc exp run -S` means it, and
`off`, `no`, `on`, `yes` are strings; only `true` and `false` are booleans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from alexnet_pipeline.config.messages import describe_errors
from alexnet_pipeline.config.schema import Params
from alexnet_pipeline.errors import ConfigError

DEFAULT_NAME = "params.yaml"


def _problems(name: str, problems: list[str]) -> str:
    """`name: problem`, or `name: N problems:` and one `  - problem` line each."""
    if len(problems) == 1:
        return f"{name}: {problems[0]}"
    return "\n".join([f"{name}: {len(problems)} problems:", *(f"  - {problem}" for problem in problems)])


def _validated(data: Any, name: str) -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(name, describe_errors(exc))) from None


def params_from_dict(data: Any) -> Params:
    """Validate an already-parsed `params.yaml` mapping and return typed `Params`."""
    return _validated(data, DEFAULT_NAME)


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(exc: YAMLError) -> str:
    """ruamel's error as one line: where (line and column, from 1) and what."""
    if not isinstance(exc, MarkedYAMLError):  # a character YAML does not allow: ruamel gives its position
        return " ".join(str(exc).split())
    if exc.problem_mark is None:  # a problem ruamel words as its context alone (a block scalar's indent)
        return f"{_at(exc.context_mark)}: {exc.context}"
    text = f"{_at(exc.problem_mark)}: {exc.problem}"
    if exc.context:
        where = f" at {_at(exc.context_mark)}" if exc.context_mark else ""
        text += f" ({exc.context}{where})"
    return text


def read_yaml(text: str) -> Any:
    """`text` as YAML 1.2 plain data (dicts, lists, str, int, float, bool, None)."""
    return YAML(typ="safe", pure=True).load(text)


def load_params(path: Path | str = DEFAULT_NAME) -> Params:
    """Read and validate the params file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; run from the project root or pass --project-dir") from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        column = exc.start - (exc.object.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{path}: not UTF-8 text: byte {exc.object[exc.start]:#04x} at line {line}, column "
                          f"{column}; save the file as UTF-8") from None
    try:
        data = read_yaml(text)
    except YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    except (ValueError, AssertionError) as exc:  # a tag its value does not fit (`!!int x`); `%YAML 1.3`
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return _validated(data, str(path))
