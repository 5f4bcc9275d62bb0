"""pydantic's validation errors in params.yaml's words: each problem names its dotted key
(`train.epochs`, `data.sample.classes[1]`) and says what is allowed.

`expected` and `bounds` word a field's type and range; the params reference uses them too.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from alexnet_pipeline.config.schema import Params

OPERATORS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}  # pydantic's bound names
BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", Path: "a path"}


def _unwrapped(annotation: Any) -> Any:
    """`annotation` without `Annotated[...]` and without `| None`."""
    while True:
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is Annotated:
            annotation = args[0]
        elif typing.get_origin(annotation) in (typing.Union, UnionType):
            (annotation,) = (arg for arg in args if arg is not NoneType)  # the schema's only union: `X | None`
        else:
            return annotation


def expected(annotation: Any) -> str:
    """What a value of `annotation` looks like in YAML: "an integer", "a number or null",
    "one of 'fail', 'quarantine'", "a list of a string", "a mapping"."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return expected(args[0])
    if origin in (typing.Union, UnionType):  # `X | None`, the schema's only union
        return f"{expected(_unwrapped(annotation))} or null"
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin is tuple or origin is list:
        return f"a list of {expected(args[0])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping"
    if annotation not in NAMES:
        raise TypeError(f"no wording for values of {annotation!r}")
    return NAMES[annotation]


def bounds(field: FieldInfo) -> str | None:
    """A field's range: ">= 1", "> 0", "in 1..95" (integers), "in [0, 1)"; None when unbounded."""
    found = {name: getattr(rule, name) for rule in field.metadata for name in OPERATORS
             if getattr(rule, name, None) is not None}
    if not found:
        return None
    low, high = found.get("ge", found.get("gt")), found.get("le", found.get("lt"))
    if low is None or high is None:  # one side, so one bound
        ((name, bound),) = found.items()
        return f"{OPERATORS[name]} {bound}"
    if _unwrapped(field.annotation) is int:
        return f"in {low}..{high}"
    return f"in {'[' if 'ge' in found else '('}{low}, {high}{']' if 'le' in found else ')'}"


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return text.removeprefix(".")  # only the joint's own dot: a key may begin with one itself


def _section(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model of the section at `loc`, a path of keys from the top of the file."""
    model = root
    for name in loc:
        model = _unwrapped(model.model_fields[name].annotation)
    return model


def _field(root: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo:
    return _section(root, loc[:-1]).model_fields[loc[-1]]


def _unknown(root: type[BaseModel], loc: tuple[int | str, ...], twin: str | None) -> str:
    section, key = loc[:-1], _dotted(loc[:-1] + (str(loc[-1]),))
    if twin is not None:
        return f"unknown key `{key}`; did you mean `{_dotted((*section, twin))}`?"
    where = f"`{_dotted(section)}`" if section else "the top level"
    return f"unknown key `{key}`; known keys in {where}: {', '.join(_section(root, section).model_fields)}"


def _described(root: type[BaseModel], error: ErrorDetails) -> str:
    """One error other than an unknown key, naming its dotted key."""
    loc, kind, key = error["loc"], error["type"], _dotted(error["loc"])
    if kind == "value_error":  # a rule of the schema, worded there with its keys
        return str(error["ctx"]["error"])
    if not loc:
        return f"the top level must be a mapping, got {error['input']!r}"
    if kind == "missing":
        return f"missing key `{key}` ({expected(_field(root, loc).annotation)})"
    if kind in BOUND_ERRORS:
        return f"`{key}` must be {bounds(_field(root, loc))}, got {error['input']!r}"
    if isinstance(loc[-1], int):  # an item of a list
        annotation = typing.get_args(_unwrapped(_field(root, loc[:-1]).annotation))[0]
    else:
        annotation = _field(root, loc).annotation
    return f"`{key}` must be {expected(annotation)}, got {error['input']!r}"


def _twins(errors: list[ErrorDetails]) -> dict[int, int]:
    """{unknown key's error index: its missing twin's}: a misspelt key is both, and is named once."""
    missing: dict[tuple[int | str, ...], dict[str, int]] = {}
    for index, error in enumerate(errors):
        if error["type"] == "missing" and error["loc"]:
            missing.setdefault(error["loc"][:-1], {})[str(error["loc"][-1])] = index
    twins = {}
    for index, error in enumerate(errors):
        if error["type"] == "extra_forbidden":
            left = missing.get(error["loc"][:-1], {})
            close = difflib.get_close_matches(str(error["loc"][-1]), list(left), n=1)
            if close:
                twins[index] = left.pop(close[0])
    return twins


def describe_errors(exc: ValidationError, root: type[BaseModel] = Params) -> list[str]:
    """Every problem in `exc` (raised validating `root`) as params.yaml's words, in pydantic's
    order (the schema's): a misspelt key is one "unknown key ...; did you mean ...?" without its
    "missing key" twin; another unknown key lists the known keys of its section."""
    errors = exc.errors()
    twins = _twins(errors)
    suppressed = set(twins.values())
    problems = []
    for index, error in enumerate(errors):
        if index in suppressed:
            continue
        try:
            if error["type"] == "extra_forbidden":
                twin = errors[twins[index]]["loc"][-1] if index in twins else None
                problems.append(_unknown(root, error["loc"], None if twin is None else str(twin)))
            else:
                problems.append(_described(root, error))
        except (KeyError, IndexError, TypeError, AttributeError):  # a shape the wording above does not know,
            problems.append(f"`{_dotted(error['loc'])}`: {error['msg']}")  # e.g. a key YAML read as a number
    return problems
