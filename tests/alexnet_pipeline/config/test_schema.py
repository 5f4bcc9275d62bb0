"""The schema of params.yaml: typed, frozen sections, bounds and rules across fields, and a
description on every field."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from alexnet_pipeline.config import MIN_IMAGE_SIZE, Params, load_params, params_from_dict
from alexnet_pipeline.errors import ConfigError, PipelineError
from tests.helpers import REPO_ROOT, SHIPPED_PARAMS, config_error_for, set_key, shipped_params_dict
from tools.reference_docs import schema_fields


def test_shipped_params_yaml_loads_into_typed_params() -> None:
    params = load_params(SHIPPED_PARAMS)
    assert isinstance(params, Params)
    assert params.base.seed == 42 and params.base.image_size == 227
    assert params.paths.raw == Path("data/raw") and isinstance(params.paths.model, Path)
    assert params.data.source == "sample"
    classes = params.data.sample.classes
    assert isinstance(classes, tuple) and len(classes) >= 2
    assert all(isinstance(name, str) for name in classes)
    assert params.validate.allowed_formats[0] == "JPEG"
    assert isinstance(params.train.learning_rate, float) and params.train.flip is True
    assert params.preprocess.resize in ("paper", "crop", "squash", "pad")


def test_every_field_has_a_one_line_description() -> None:
    """Descriptions become params.yaml's comments and the params reference: every leaf and every
    section has one, plain text on one line, no `#` (a YAML comment inside a comment) and no
    trailing period."""
    fields = list(schema_fields(Params))
    assert {"base", "train.lr_plateau", "train.lr_plateau.patience", "data.kaggle.version"} <= dict(fields).keys()
    for key, field in fields:
        description = field.description
        assert isinstance(description, str) and description.strip(), key
        assert "#" not in description and "\n" not in description, key
        assert not description.endswith((".", " ")) and description == description.strip(), key
        assert len(description) <= 110, key


def test_params_are_frozen() -> None:
    params = load_params(SHIPPED_PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.epochs = 3  # type: ignore[misc]


def test_nested_sections_are_frozen_too() -> None:
    params = load_params(SHIPPED_PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.lr_plateau.factor = 0.5  # type: ignore[misc]
    changed = params.train.model_copy(update={"epochs": 3})
    assert changed.epochs == 3 and params.train.epochs == 10


def test_params_cannot_lose_a_field() -> None:
    params = load_params(SHIPPED_PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'epochs'"):
        del params.train.epochs
    assert params.train.epochs == 10


def test_int_given_for_float_is_accepted_as_float() -> None:
    data = shipped_params_dict()
    set_key(data, "train.learning_rate", 1)
    assert params_from_dict(data).train.learning_rate == 1.0
    assert isinstance(params_from_dict(data).train.learning_rate, float)


@pytest.mark.parametrize(("dotted", "value"), [("train.learning_rate", "1e-4"), ("train.epochs", "3"),
                                               ("train.flip", "true"), ("train.mixed_precision", False)])
def test_text_is_not_coerced(dotted: str, value: object) -> None:
    """Strict types: YAML 1.2 reads `1e-4` as a number and `off` as text, so no value needs
    converting; a quoted number or a bool where text belongs is refused."""
    assert f"`{dotted}` must be" in config_error_for(dotted, value)


def test_kaggle_version_is_null_or_a_pinned_number() -> None:
    data = shipped_params_dict()
    assert params_from_dict(data).data.kaggle.version is None
    set_key(data, "data.kaggle.version", 3)
    assert params_from_dict(data).data.kaggle.version == 3


def test_smallest_allowed_image_size_is_accepted() -> None:
    data = shipped_params_dict()
    set_key(data, "base.image_size", MIN_IMAGE_SIZE)
    assert params_from_dict(data).base.image_size == MIN_IMAGE_SIZE


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("base.image_size", 32),
        ("base.image_size", MIN_IMAGE_SIZE - 1),
        ("train.epochs", 0),
        ("train.learning_rate", 0.0),
        ("train.momentum", 1.0),
        ("model.dropout", -0.1),
        ("preprocess.val_fraction", 1.0),
        ("preprocess.val_fraction", 0),
        ("preprocess.shard_size", 0),
        ("preprocess.jpeg_quality", 101),
        ("validate.min_side", 0),
        ("validate.min_images_per_class", 0),
        ("data.sample.classes", ["circle"]),
        ("data.sample.min_side", 400),  # > max_side 320
        ("data.sample.jpeg_quality", 96),
        ("evaluate.batch_size", 0),
        ("data.kaggle.dataset", "cat-and-dog"),  # no owner
        ("data.kaggle.dataset", "https://www.kaggle.com/datasets/a/b"),
        ("data.kaggle.version", 0),
        ("data.kaggle.competition", "dogs vs cats"),
        ("data.kaggle.retries", -1),
        ("data.kaggle.timeout_s", 0),
        ("train.weight_decay", -0.1),
        ("train.label_smoothing", 1.0),
        ("train.warmup_epochs", -1),
        ("train.lr_plateau.factor", 1.0),
        ("train.lr_plateau.patience", -1),
        ("train.early_stopping_patience", -2),
        ("train.recipe", "imagenet"),
        ("train.mixed_precision", "fp8"),
    ],
)
def test_out_of_range_value_names_the_key(dotted: str, value: object) -> None:
    message = config_error_for(dotted, value)
    assert f"`{dotted}`" in message


def test_xla_with_op_determinism_is_refused() -> None:
    data = shipped_params_dict()
    set_key(data, "train.jit_compile", True)
    with pytest.raises(ConfigError, match="train.deterministic: false"):
        params_from_dict(data)
    set_key(data, "train.deterministic", False)
    assert params_from_dict(data).train.jit_compile is True


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("data.sample.classes", ["dots", "squiggles"],
         ("params.yaml: `data.sample.classes` has unknown classes ['squiggles']; choose from stripes, checks, dots, "
         "rings")),
        ("paths.labels", "models/alexnet.keras",
         ("params.yaml: `paths.model` (models/alexnet.keras) and `paths.labels` (models/alexnet.keras) overlap; "
         "give each output its own path")),
        ("paths.raw", ".", "params.yaml: `paths.raw` must not be the project root"),
        ("paths.raw", "", "params.yaml: `paths.raw` must not be empty"),  # Path("") is the project root too
        ("drift.permutations", 100,
         ("params.yaml: `drift.permutations` is too few for drift.p_value 0.001: the smallest p-value of 100 "
         "permutations is 1/101; use at least 1000")),
        ("cluster.dask_address", "10.0.0.5:8786",
         ("params.yaml: `cluster.dask_address` must be a scheduler address such as tcp://10.0.0.5:8786, "
         "got '10.0.0.5:8786'")),
    ],
)
def test_rules_across_fields_are_worded_with_their_keys(dotted: str, value: object, expected: str) -> None:
    assert config_error_for(dotted, value) == expected


def test_config_error_is_a_pipeline_error_with_its_own_exit_code() -> None:
    assert issubclass(ConfigError, PipelineError)
    assert ConfigError.exit_code != 0 and PipelineError.exit_code != 0


def test_dump_keeps_tuples_and_paths() -> None:
    """Fingerprints of a training run are computed from the dump, as they were from `asdict`."""
    dumped = load_params(SHIPPED_PARAMS).model_dump()
    assert dumped["paths"]["raw"] == Path("data/raw")
    assert dumped["data"]["sample"]["classes"] == ("stripes", "checks", "dots", "rings")
    assert dumped["train"]["lr_plateau"] == {"patience": 0, "factor": 0.1, "max_drops": 3}


def test_sample_classes_are_the_textures_the_generator_draws() -> None:
    from alexnet_pipeline.config import SAMPLE_CLASSES
    from alexnet_pipeline.sources.sample_data import TEXTURES

    assert TEXTURES == SAMPLE_CLASSES


def test_config_does_not_load_the_sample_generator() -> None:
    """config is the lowest layer: sample_data takes its class names from config, not the reverse."""
    code = ("import sys, alexnet_pipeline.config; "
            "sys.exit('alexnet_pipeline.sources.sample_data' in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


@pytest.mark.parametrize("value", ["", "grpc://h:1", "grpc://10.0.0.5:5050", "grpc://[::1]:5050"])
def test_a_data_service_is_off_or_a_grpc_dispatcher(value: str) -> None:
    data = shipped_params_dict()
    set_key(data, "train.data_service", value)
    assert params_from_dict(data).train.data_service == value


@pytest.mark.parametrize("value", ["grpc://h", "grpc://h:", "http://h:1", "grpc://h:5050 ", "grpc://h:5050/x",
                                   "h:5050"])
def test_anything_else_as_data_service_names_the_key_and_the_form(value: str) -> None:
    assert config_error_for("train.data_service", value) == (
        'params.yaml: `train.data_service` must be grpc://HOST:PORT (a tf.data dispatcher, e.g. '
        f'grpc://10.0.0.5:5050) or "", got {value!r}')
