"""params.yaml -> typed Params; every bad value stops with a ConfigError naming its key."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alexnet_pipeline.config import MIN_IMAGE_SIZE, Params, load_params, params_from_dict
from alexnet_pipeline.errors import ConfigError, PipelineError
from tests.helpers import REPO_ROOT, SHIPPED_PARAMS, del_key, set_key, shipped_params_dict


def _error_for(dotted: str, value: object) -> str:
    data = shipped_params_dict()
    set_key(data, dotted, value)
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    return str(info.value)


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


def test_params_are_frozen() -> None:
    params = load_params(SHIPPED_PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.epochs = 3  # type: ignore[misc]


def test_int_given_for_float_is_accepted_as_float() -> None:
    data = shipped_params_dict()
    set_key(data, "train.learning_rate", 1)
    assert params_from_dict(data).train.learning_rate == 1.0
    assert isinstance(params_from_dict(data).train.learning_rate, float)


def test_unknown_key_is_named_with_known_keys() -> None:
    data = shipped_params_dict()
    data["train"]["epoch"] = 10
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    message = str(info.value)
    assert "unknown key `train.epoch`" in message
    assert "epochs" in message  # the known keys are listed, so the typo is easy to spot


def test_unknown_top_level_section_is_named() -> None:
    data = shipped_params_dict()
    data["trian"] = {"epochs": 1}
    with pytest.raises(ConfigError, match="unknown key `trian`"):
        params_from_dict(data)


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("train.epochs", "ten", "`train.epochs` must be an integer, got 'ten'"),
        ("base.seed", True, "`base.seed` must be an integer, got True"),
        ("train.epochs", 2.5, "`train.epochs` must be an integer"),
        ("train.flip", "yes", "`train.flip` must be true or false"),
        ("train.learning_rate", "fast", "`train.learning_rate` must be a number"),
        ("train.optimizer", "rmsprop", "`train.optimizer` must be one of 'sgd', 'adam'"),
        ("data.source", "s3", "`data.source` must be one of"),
        ("data.sample.classes", "circle", "`data.sample.classes` must be a list"),
        ("data.sample.classes", ["circle", 3], "`data.sample.classes[1]` must be a string"),
        ("paths.raw", "", "`paths.raw` must be a path"),
        ("paths.model", 5, "`paths.model` must be a path"),
        ("report", "title", "`report` must be a mapping"),
        ("data.kaggle.version", "latest", "`data.kaggle.version` must be an integer or null, got 'latest'"),
    ],
)
def test_wrong_type_names_the_key(dotted: str, value: object, expected: str) -> None:
    assert expected in _error_for(dotted, value)


def test_scientific_notation_is_a_number() -> None:
    # PyYAML reads `1e-4` as a string; `dvc exp run -S train.learning_rate=1e-4` writes it so.
    data = shipped_params_dict()
    set_key(data, "train.learning_rate", "1e-4")
    assert params_from_dict(data).train.learning_rate == 1e-4


@pytest.mark.parametrize("dotted", ["train.epochs", "paths.report", "data.sample.jpeg_quality",
                                    "evaluate"])
def test_missing_key_is_named(dotted: str) -> None:
    data = shipped_params_dict()
    del_key(data, dotted)
    with pytest.raises(ConfigError, match=f"missing key `{dotted}`"):
        params_from_dict(data)


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
    message = _error_for(dotted, value)
    assert f"`{dotted}`" in message


def test_kaggle_version_is_null_or_a_pinned_number() -> None:
    data = shipped_params_dict()
    assert params_from_dict(data).data.kaggle.version is None
    set_key(data, "data.kaggle.version", 3)
    assert params_from_dict(data).data.kaggle.version == 3


def test_smallest_allowed_image_size_is_accepted() -> None:
    data = shipped_params_dict()
    set_key(data, "base.image_size", MIN_IMAGE_SIZE)
    assert params_from_dict(data).base.image_size == MIN_IMAGE_SIZE


def test_config_error_is_a_pipeline_error_with_its_own_exit_code() -> None:
    assert issubclass(ConfigError, PipelineError)
    assert ConfigError.exit_code != 0 and PipelineError.exit_code != 0


def test_load_params_names_the_file_in_errors(tmp_path: Path) -> None:
    data = shipped_params_dict()
    set_key(data, "train.epochs", "ten")
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value).startswith(f"{path}: `train.epochs`")


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("base:\n  seed: 42\n  image_size: [227\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n"])
def test_non_mapping_document_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        load_params(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_a_bare_off_reads_as_off() -> None:
    """PyYAML (and `dvc exp run -S train.mixed_precision=off`) turn a bare `off` into false."""
    data = shipped_params_dict()
    set_key(data, "train.mixed_precision", yaml.safe_load("off"))
    assert params_from_dict(data).train.mixed_precision == "off"
    set_key(data, "train.mixed_precision", True)
    with pytest.raises(ConfigError, match="train.mixed_precision"):
        params_from_dict(data)


def test_xla_with_op_determinism_is_refused() -> None:
    data = shipped_params_dict()
    set_key(data, "train.jit_compile", True)
    with pytest.raises(ConfigError, match="train.deterministic: false"):
        params_from_dict(data)
    set_key(data, "train.deterministic", False)
    assert params_from_dict(data).train.jit_compile is True


def test_nested_sections_are_frozen_too() -> None:
    params = load_params(SHIPPED_PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.lr_plateau.factor = 0.5  # type: ignore[misc]
    changed = params.train.model_copy(update={"epochs": 3})
    assert changed.epochs == 3 and params.train.epochs == 10


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("validate.allowed_formats", ["JPEG", 1], "`validate.allowed_formats[1]` must be a string, got 1"),
        ("train.lr_plateau", [1], "`train.lr_plateau` must be a mapping, got [1]"),
        ("train.learning_rate", True, "`train.learning_rate` must be a number, got True"),
        ("data.kaggle.version", True, "`data.kaggle.version` must be an integer or null, got True"),
        ("train.momentum", 1.0, "`train.momentum` must be in [0, 1)"),
        ("base.seed", 2**32, "`base.seed` must be in 0..4294967295"),
        ("validate.workers", -1, "`validate.workers` must be >= 0 (0: one per core)"),
        ("data.sample.classes", ["dots", "squiggles"],
         "`data.sample.classes` has unknown classes ['squiggles']; choose from stripes, checks, dots, rings"),
        ("paths.labels", "models/alexnet.keras", "`paths.model` (models/alexnet.keras) and `paths.labels`"),
    ],
)
def test_messages_name_the_key_and_the_rule(dotted: str, value: object, expected: str) -> None:
    assert expected in _error_for(dotted, value)


def test_missing_key_says_what_it_expects() -> None:
    data = shipped_params_dict()
    del_key(data, "train.mixed_precision")
    with pytest.raises(ConfigError, match=r"missing key `train.mixed_precision` \(one of 'auto', 'off'"):
        params_from_dict(data)


def test_a_misspelt_key_is_named_as_unknown_not_missing() -> None:
    data = shipped_params_dict()
    data["train"]["epoch"] = data["train"].pop("epochs")
    with pytest.raises(ConfigError, match="unknown key `train.epoch`; known keys in `train`: recipe, epochs"):
        params_from_dict(data)


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


def test_an_unknown_top_level_key_lists_the_sections() -> None:
    data = shipped_params_dict()
    data["trian"] = {"epochs": 1}
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    assert str(info.value) == ("params.yaml: unknown key `trian`; known keys in the top level: base, paths, "
                               "data, validate, preprocess, model, train, evaluate, gate, drift, report, cluster")


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


# Each kind of bound exactly at its threshold and one step either side (1 for an integer, 1e-9 for a
# number); a refused value's whole message, as `_range` words the rule (no description on these).
@pytest.mark.parametrize(
    ("dotted", "value", "error"),
    [
        ("base.image_size", MIN_IMAGE_SIZE - 1, f"`base.image_size` must be >= {MIN_IMAGE_SIZE}"),  # ge
        ("base.image_size", MIN_IMAGE_SIZE, None),
        ("base.image_size", MIN_IMAGE_SIZE + 1, None),
        ("train.learning_rate", -1e-9, "`train.learning_rate` must be > 0"),  # gt
        ("train.learning_rate", 0.0, "`train.learning_rate` must be > 0"),
        ("train.learning_rate", 1e-9, None),
        ("data.sample.jpeg_quality", 0, "`data.sample.jpeg_quality` must be in 1..95"),  # integer ge, le
        ("data.sample.jpeg_quality", 1, None),
        ("data.sample.jpeg_quality", 2, None),
        ("data.sample.jpeg_quality", 94, None),
        ("data.sample.jpeg_quality", 95, None),
        ("data.sample.jpeg_quality", 96, "`data.sample.jpeg_quality` must be in 1..95"),
        ("train.momentum", -1e-9, "`train.momentum` must be in [0, 1)"),  # number ge, lt
        ("train.momentum", 0.0, None),
        ("train.momentum", 1 - 1e-9, None),
        ("train.momentum", 1.0, "`train.momentum` must be in [0, 1)"),
        ("train.momentum", 1 + 1e-9, "`train.momentum` must be in [0, 1)"),
        ("preprocess.val_fraction", 0.0, "`preprocess.val_fraction` must be in (0, 1)"),  # gt, lt
        ("preprocess.val_fraction", 1e-9, None),
        ("preprocess.val_fraction", 1 - 1e-9, None),
        ("preprocess.val_fraction", 1.0, "`preprocess.val_fraction` must be in (0, 1)"),
        ("train.lighting_std", -1e-9, "`train.lighting_std` must be in [0, 1]"),  # ge, le
        ("train.lighting_std", 0.0, None),
        ("train.lighting_std", 1 - 1e-9, None),
        ("train.lighting_std", 1.0, None),
        ("train.lighting_std", 1 + 1e-9, "`train.lighting_std` must be in [0, 1]"),
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


def test_of_several_errors_the_first_in_the_file_is_named() -> None:
    data = shipped_params_dict()
    set_key(data, "train.epochs", "ten")
    set_key(data, "train.flip", "yes")
    with pytest.raises(ConfigError, match=r"^params\.yaml: `train\.epochs` must be an integer, got 'ten'$"):
        params_from_dict(data)
    del_key(data, "evaluate.batch_size")  # a missing key comes before wrong values
    with pytest.raises(ConfigError, match=r"^params\.yaml: missing key `evaluate\.batch_size`"):
        params_from_dict(data)


def test_params_cannot_lose_a_field() -> None:
    params = load_params(SHIPPED_PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'epochs'"):
        del params.train.epochs
    assert params.train.epochs == 10


def test_load_params_reads_params_yaml_of_the_working_directory(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^params\.yaml: not found; run from the project root"):
        load_params()
    (tmp_path / "params.yaml").write_text(SHIPPED_PARAMS.read_text())
    assert load_params() == load_params(SHIPPED_PARAMS)


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
