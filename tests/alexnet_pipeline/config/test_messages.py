"""pydantic's errors in params.yaml's words: every problem at once, each naming its dotted key and
what is allowed; a misspelt key once, with the key it misspells."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from alexnet_pipeline.config import MIN_IMAGE_SIZE, Params, params_from_dict
from alexnet_pipeline.config.messages import bounds, describe_errors, expected
from alexnet_pipeline.config.schema import Float, Int, NonEmptyPath, Str
from alexnet_pipeline.errors import ConfigError
from tests.helpers import config_error_for, del_key, set_key, shipped_params_dict

KNOWN_TOP = "base, paths, data, validate, preprocess, model, train, evaluate, gate, drift, report, cluster"


def _problems(data: object) -> list[str]:
    with pytest.raises(ValidationError) as info:
        Params.model_validate(data)
    return describe_errors(info.value)


class Bounded(BaseModel):
    """One field per kind of bound `bounds` words."""

    model_config = ConfigDict(extra="forbid")
    free: Int
    ge: Int = Field(ge=1)
    gt: Float = Field(gt=0)
    le: Int = Field(le=5)
    lt: Float = Field(lt=1)
    int_ge_le: Int = Field(ge=1, le=95)
    int_gt_lt: Int = Field(gt=0, lt=10)
    ge_lt: Float = Field(ge=0, lt=1)
    gt_lt: Float = Field(gt=0, lt=1)
    ge_le: Float = Field(ge=0, le=1)
    gt_le: Float = Field(gt=0, le=1)
    optional: Int | None = Field(ge=1)
    optional_range: Int | None = Field(ge=1, le=3)


@pytest.mark.parametrize(
    ("name", "text"),
    [("free", None), ("ge", ">= 1"), ("gt", "> 0"), ("le", "<= 5"), ("lt", "< 1"),
     ("int_ge_le", "in 1..95"), ("int_gt_lt", "in 0..10"), ("ge_lt", "in [0, 1)"), ("gt_lt", "in (0, 1)"),
     ("ge_le", "in [0, 1]"), ("gt_le", "in (0, 1]"), ("optional", ">= 1"), ("optional_range", "in 1..3")],
)
def test_bounds_words_each_kind_of_bound(name: str, text: str | None) -> None:
    assert bounds(Bounded.model_fields[name]) == text


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (Int, "an integer"),
        (Float, "a number"),
        (Str, "a string"),
        (Annotated[bool, Strict()], "true or false"),
        (NonEmptyPath, "a path"),
        (Int | None, "an integer or null"),
        (Float | None, "a number or null"),
        (Literal["fail", "quarantine"], "one of 'fail', 'quarantine'"),
        (tuple[Str, ...], "a list of a string"),
        (Bounded, "a mapping"),
    ],
)
def test_expected_words_what_a_value_looks_like_in_yaml(annotation: object, text: str) -> None:
    assert expected(annotation) == text


def test_expected_refuses_a_type_it_cannot_word() -> None:
    with pytest.raises(TypeError, match="no wording"):
        expected(complex)


@pytest.mark.parametrize(
    ("dotted", "value", "expected_text"),
    [
        ("train.epochs", "ten", "`train.epochs` must be an integer, got 'ten'"),
        ("base.seed", True, "`base.seed` must be an integer, got True"),
        ("train.epochs", 2.5, "`train.epochs` must be an integer, got 2.5"),
        ("train.flip", "yes", "`train.flip` must be true or false, got 'yes'"),
        ("train.learning_rate", "fast", "`train.learning_rate` must be a number, got 'fast'"),
        ("train.learning_rate", True, "`train.learning_rate` must be a number, got True"),
        ("train.optimizer", "rmsprop", "`train.optimizer` must be one of 'sgd', 'adam', got 'rmsprop'"),
        ("data.source", "s3", "`data.source` must be one of 'sample', 'kaggle', 'local', got 's3'"),
        ("data.sample.classes", "circle", "`data.sample.classes` must be a list of a string, got 'circle'"),
        ("data.sample.classes", ["circle", 3], "`data.sample.classes[1]` must be a string, got 3"),
        ("validate.allowed_formats", ["JPEG", 1], "`validate.allowed_formats[1]` must be a string, got 1"),
        ("paths.raw", None, "`paths.raw` must be a path, got None"),  # `raw:` with nothing after it
        ("paths.model", 5, "`paths.model` must be a path, got 5"),
        ("report", "title", "`report` must be a mapping, got 'title'"),
        ("train.lr_plateau", [1], "`train.lr_plateau` must be a mapping, got [1]"),
        ("data.kaggle.version", "latest", "`data.kaggle.version` must be an integer or null, got 'latest'"),
        ("data.kaggle.version", True, "`data.kaggle.version` must be an integer or null, got True"),
        ("train.momentum", 1.0, "`train.momentum` must be in [0, 1), got 1.0"),
        ("base.seed", 2**32, "`base.seed` must be in 0..4294967295, got 4294967296"),
        ("validate.workers", -1, "`validate.workers` must be >= 0, got -1"),
        ("gate.min_class_recall", 1.5, "`gate.min_class_recall` must be in [0, 1], got 1.5"),
    ],
)
def test_a_wrong_value_names_the_key_the_rule_and_the_value(dotted: str, value: object,
                                                             expected_text: str) -> None:
    assert config_error_for(dotted, value) == f"params.yaml: {expected_text}"


@pytest.mark.parametrize(("dotted", "what"), [("train.epochs", "an integer"), ("paths.report", "a path"),
                                              ("data.sample.jpeg_quality", "an integer"),
                                              ("evaluate", "a mapping"),
                                              ("train.mixed_precision", "one of 'auto', 'off', 'bf16', 'fp16'")])
def test_a_missing_key_is_named_with_what_it_expects(dotted: str, what: str) -> None:
    data = shipped_params_dict()
    del_key(data, dotted)
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    assert str(info.value) == f"params.yaml: missing key `{dotted}` ({what})"


def test_an_unknown_key_beside_its_known_twin_lists_the_known_keys() -> None:
    data = shipped_params_dict()
    data["train"]["epoch"] = 10  # `epochs` is there too: not a misspelling of a missing key
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    assert str(info.value) == ("params.yaml: unknown key `train.epoch`; known keys in `train`: recipe, epochs, "
                               "batch_size, optimizer, learning_rate, momentum, weight_decay, label_smoothing, "
                               "warmup_epochs, lr_plateau, early_stopping_patience, flip, lighting_std, "
                               "deterministic, mixed_precision, jit_compile, cache, cache_memory_share, data_service")


def test_an_unknown_top_level_key_lists_the_sections() -> None:
    data = shipped_params_dict()
    data["trian"] = {"epochs": 1}
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    assert str(info.value) == f"params.yaml: unknown key `trian`; known keys in the top level: {KNOWN_TOP}"


@pytest.mark.parametrize(("misspelt", "meant"), [("train.epoch", "train.epochs"),
                                                 ("train.batchsize", "train.batch_size"),
                                                 ("data.sampel", "data.sample"),
                                                 ("trian", "train")])
def test_a_misspelt_key_is_named_once_as_unknown_with_the_key_it_misspells(misspelt: str, meant: str) -> None:
    """A misspelt key is both unknown and missing: one problem, and its missing twin is not another."""
    data = shipped_params_dict()
    *parents, wrong = misspelt.split(".")
    section = data
    for parent in parents:
        section = section[parent]
    section[wrong] = section.pop(meant.rpartition(".")[2])
    assert _problems(data) == [f"unknown key `{misspelt}`; did you mean `{meant}`?"]


def test_an_unknown_key_with_no_close_missing_key_leaves_the_missing_one_named() -> None:
    data = shipped_params_dict()
    data["train"]["zzz"] = data["train"].pop("epochs")
    assert _problems(data) == ["missing key `train.epochs` (an integer)",
                               ("unknown key `train.zzz`; known keys in `train`: recipe, epochs, batch_size, "
                               "optimizer, learning_rate, momentum, weight_decay, label_smoothing, warmup_epochs, "
                               "lr_plateau, early_stopping_patience, flip, lighting_std, deterministic, "
                               "mixed_precision, jit_compile, cache, cache_memory_share, data_service")]


def test_each_missing_key_is_the_twin_of_one_misspelling_at_most() -> None:
    data = shipped_params_dict()
    data["train"]["epoch"] = data["train"].pop("epochs")
    data["train"]["epochz"] = 3
    problems = _problems(data)
    assert problems[0] == "unknown key `train.epoch`; did you mean `train.epochs`?"
    assert problems[1].startswith("unknown key `train.epochz`; known keys in `train`: recipe, epochs")
    assert len(problems) == 2


@pytest.mark.parametrize("key", ["Xtrain", "X", ".train", "..x"])
def test_an_unknown_key_is_named_as_written(key: str) -> None:
    """A key is named with its own first letters, leading dots included (`.train` is not `train`)."""
    data = shipped_params_dict()
    data[key] = 1
    with pytest.raises(ConfigError, match=rf"^params\.yaml: unknown key `{re.escape(key)}`; known keys in the top"):
        params_from_dict(data)
    del data[key]
    data["train"][key] = 1
    with pytest.raises(ConfigError, match=rf"^params\.yaml: unknown key `train\.{re.escape(key)}`; known keys in"):
        params_from_dict(data)


def test_every_problem_is_named_in_pydantic_order() -> None:
    """All problems at once, in the schema's order (params.yaml's), unknown keys last in their section."""
    data = shipped_params_dict()
    set_key(data, "train.epochs", "ten")
    set_key(data, "train.flip", "yes")
    data["train"]["extra"] = 1
    del_key(data, "evaluate.batch_size")
    set_key(data, "base.seed", -1)
    assert _problems(data) == [
        "`base.seed` must be in 0..4294967295, got -1",
        "`train.epochs` must be an integer, got 'ten'",
        "`train.flip` must be true or false, got 'yes'",
        ("unknown key `train.extra`; known keys in `train`: recipe, epochs, batch_size, optimizer, learning_rate, "
        "momentum, weight_decay, label_smoothing, warmup_epochs, lr_plateau, early_stopping_patience, flip, "
        "lighting_std, deterministic, mixed_precision, jit_compile, cache, cache_memory_share, data_service"),
        "missing key `evaluate.batch_size` (an integer)",
    ]


def test_several_problems_are_one_config_error_one_per_line() -> None:
    data = shipped_params_dict()
    set_key(data, "train.epochs", 0)
    set_key(data, "validate.on_invalid", "warn")
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    assert str(info.value) == ("params.yaml: 2 problems:\n"
                               "  - `validate.on_invalid` must be one of 'fail', 'quarantine', got 'warn'\n"
                               "  - `train.epochs` must be >= 1, got 0")


def test_a_key_that_is_not_text_is_named_with_pydantics_words() -> None:
    """YAML reads the keys `1:` and `null:` as a number and null: no wording above knows such a key,
    so its place comes first, then pydantic's own words."""
    data = shipped_params_dict()
    data["train"][1] = 5
    data["train"][None] = 5
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    assert str(info.value) == ("params.yaml: 2 problems:\n"
                               "  - `train[1]`: Keys should be strings\n"
                               "  - `train.None`: Keys should be strings")


@pytest.mark.parametrize("top", [None, [1, 2], "text"])
def test_a_top_level_that_is_not_a_mapping_is_named(top: object) -> None:
    assert _problems(top) == [f"the top level must be a mapping, got {top!r}"]


def test_describe_errors_words_any_model_given_as_root() -> None:
    with pytest.raises(ValidationError) as info:
        Bounded.model_validate({"free": 1, "ge": 0, "gt": 1.0, "le": 5, "lt": 0.5, "int_ge_le": 1, "int_gt_lt": 1,
                                "ge_lt": 0.0, "gt_lt": 0.5, "ge_le": 1.0, "gt_le": 1.0, "optional": None,
                                "optional_range": 4, "frees": 2})
    assert describe_errors(info.value, root=Bounded) == ["`ge` must be >= 1, got 0",
                                                         "`optional_range` must be in 1..3, got 4",
                                                         ("unknown key `frees`; known keys in the top level: free, "
                                                         "ge, gt, le, lt, int_ge_le, int_gt_lt, ge_lt, gt_lt, "
                                                         "ge_le, gt_le, optional, optional_range")]


# Each kind of bound exactly at its threshold and one step either side (1 for an integer, 1e-9 for a
# number); a refused value's whole message, as `bounds` words the rule.
@pytest.mark.parametrize(
    ("dotted", "value", "error"),
    [
        ("base.image_size", MIN_IMAGE_SIZE - 1, f"`base.image_size` must be >= {MIN_IMAGE_SIZE}, got 66"),  # ge
        ("base.image_size", MIN_IMAGE_SIZE, None),
        ("base.image_size", MIN_IMAGE_SIZE + 1, None),
        ("train.learning_rate", -1e-9, "`train.learning_rate` must be > 0, got -1e-09"),  # gt
        ("train.learning_rate", 0.0, "`train.learning_rate` must be > 0, got 0.0"),
        ("train.learning_rate", 1e-9, None),
        ("data.sample.jpeg_quality", 0, "`data.sample.jpeg_quality` must be in 1..95, got 0"),  # integer ge, le
        ("data.sample.jpeg_quality", 1, None),
        ("data.sample.jpeg_quality", 2, None),
        ("data.sample.jpeg_quality", 94, None),
        ("data.sample.jpeg_quality", 95, None),
        ("data.sample.jpeg_quality", 96, "`data.sample.jpeg_quality` must be in 1..95, got 96"),
        ("train.momentum", -1e-9, "`train.momentum` must be in [0, 1), got -1e-09"),  # number ge, lt
        ("train.momentum", 0.0, None),
        ("train.momentum", 1 - 1e-9, None),
        ("train.momentum", 1.0, "`train.momentum` must be in [0, 1), got 1.0"),
        ("train.momentum", 1 + 1e-9, "`train.momentum` must be in [0, 1), got 1.000000001"),
        ("preprocess.val_fraction", 0.0, "`preprocess.val_fraction` must be in (0, 1), got 0.0"),  # gt, lt
        ("preprocess.val_fraction", 1e-9, None),
        ("preprocess.val_fraction", 1 - 1e-9, None),
        ("preprocess.val_fraction", 1.0, "`preprocess.val_fraction` must be in (0, 1), got 1.0"),
        ("train.lighting_std", -1e-9, "`train.lighting_std` must be in [0, 1], got -1e-09"),  # ge, le
        ("train.lighting_std", 0.0, None),
        ("train.lighting_std", 1 - 1e-9, None),
        ("train.lighting_std", 1.0, None),
        ("train.lighting_std", 1 + 1e-9, "`train.lighting_std` must be in [0, 1], got 1.000000001"),
    ],
)
def test_bounds_at_and_beside_each_threshold(dotted: str, value: float, error: str | None) -> None:
    data = shipped_params_dict()
    set_key(data, dotted, value)
    if error is None:
        section, _, key = dotted.rpartition(".")
        loaded = params_from_dict(data)
        for name in section.split("."):
            loaded = getattr(loaded, name)
        assert getattr(loaded, key) == value
    else:
        with pytest.raises(ConfigError) as info:
            params_from_dict(data)
        assert str(info.value) == f"params.yaml: {error}"

