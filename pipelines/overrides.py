"""Flow parameter overrides, applied to params.yaml the way `dvc exp run -S key=value` does.

`dvc exp run -S` reads its overrides with Hydra's override grammar and applies them to the
params as an OmegaConf config in struct mode: `key=value` changes an existing key, `+key=value`
adds one, `++key=value` adds or changes, `~key` (or `~key=value`) deletes one; values are typed
(3, 1e-4, true, null, [a, b], 'quoted'). This module does the same through the public APIs of
Hydra (`OverridesParser`) and OmegaConf, not DVC's private `dvc.utils.hydra`, then writes only
the values that changed into params.yaml with ruamel.yaml, so every other line (comments,
quoting, flow-style lists) stays as it was.

The result goes to a copy first; the copy must load as valid typed params before it replaces
params.yaml, so a bad override leaves the file untouched. Like `dvc exp run -S` in the
workspace, the values stay in params.yaml: dvc.lock, params.yaml and the metrics then agree,
and `git diff params.yaml` shows what the run used.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from alexnet_pipeline.config import load_params
from alexnet_pipeline.errors import ConfigError

if TYPE_CHECKING:  # Hydra and OmegaConf load only when there are overrides to apply
    from hydra.core.override_parser.types import Override
    from omegaconf import DictConfig
    from ruamel.yaml import YAML

PARAMS_FILE = "params.yaml"


class _BadOverride(Exception):
    """One override that cannot apply to the params; the message names its key."""


def _flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(tree, dict) or (prefix and not tree):
        return {prefix: tree}
    flat: dict[str, object] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _parse(overrides: Sequence[str]) -> list[Override]:
    """The overrides as Hydra's `Override`s; a syntax error names the override."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    malformed = [item for item in overrides if "=" not in item and not item.startswith("~")]
    if malformed:
        raise _BadOverride(f"{malformed[0]!r} is not key=value (e.g. train.epochs=3)")
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as exc:
        raise _BadOverride(str(exc).strip().splitlines()[0]) from None
    for override in parsed:
        if override.package is not None:
            raise _BadOverride(f"{override.input_line}: `@package` selects a Hydra config group; "
                               "params.yaml has none")
        if override.is_sweep_override():
            raise _BadOverride(f"{override.input_line}: a sweep (several values) cannot be written "
                               "into params.yaml; give one value per key")
    return parsed


def _apply(override: Override, config: DictConfig) -> None:
    """Apply one override to the OmegaConf `config` (struct mode) as Hydra applies it to a
    composed config: the rules of `dvc exp run -S`."""
    from omegaconf import OmegaConf, open_dict

    key, value = override.key_or_group, override.value()
    current = OmegaConf.select(config, key, throw_on_missing=False)
    if override.is_delete():
        if current is None:
            raise _BadOverride(f"Could not delete '{key}': params.yaml has no value there")
        if value is not None and value != current:
            raise _BadOverride(f"Could not delete '{key}': its value is {current}, not {value}")
        parent, _, leaf = key.rpartition(".")
        with open_dict(config):
            del (OmegaConf.select(config, parent) if parent else config)[leaf]
    elif override.is_add():
        if current is not None and not isinstance(value, dict | list):
            raise _BadOverride(f"Could not add '{key}': params.yaml has it already; change it with "
                               f"{override.input_line[1:]}, or add-or-change it with "
                               f"+{override.input_line}")
        OmegaConf.update(config, key, value, merge=True, force_add=True)
    elif override.is_force_add():
        OmegaConf.update(config, key, value, merge=True, force_add=True)
    else:
        from omegaconf.errors import ConfigAttributeError, ConfigKeyError

        try:
            OmegaConf.update(config, key, value, merge=True)
        except (ConfigAttributeError, ConfigKeyError):
            raise _BadOverride(f"Could not override '{key}': params.yaml has no such key (to add "
                               f"one, +{override.input_line})") from None


def _overridden(data: dict, overrides: Sequence[str]) -> dict:
    """`data` (plain params) with `overrides` applied, as plain data again."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    parsed = _parse(overrides)
    config = OmegaConf.create(data)
    OmegaConf.set_struct(config, True)
    for override in parsed:
        try:
            _apply(override, config)
        except OmegaConfBaseException as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise _BadOverride(f"{override.input_line}: {first_line}") from None
    try:
        return OmegaConf.to_object(config)
    except OmegaConfBaseException as exc:  # e.g. an interpolation ${...} of a key that is not there
        raise _BadOverride(str(exc).strip().splitlines()[0]) from None


def _plain(value: object) -> object:
    """ruamel's round-trip data (CommentedMap, ScalarFloat, DoubleQuotedScalarString...) as plain
    dicts, lists and scalars: what DVC hands to OmegaConf, and what a comparison needs."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    base = next((kind for kind in (bool, int, float, str) if isinstance(value, kind)), None)
    return value if base is None else base(value)


def _same(old: object, new: object) -> bool:
    """Equal and of the same types all through: `true` is not 1, and 10.0 is not 10."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[key], new[key]) for key in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    return type(old) is type(new) and old == new


def _styled(value: object, old: object) -> object:
    """`value` as ruamel should write it: a string in the quotes the old one had (ruamel quotes
    one that YAML 1.2 would read as another type); a list in flow style where the old one was."""
    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.scalarstring import ScalarString

    if isinstance(value, str):
        if isinstance(old, ScalarString):
            return type(old)(value)
        return value
    if isinstance(value, list) and isinstance(old, CommentedSeq) and old.fa.flow_style():
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq
    return value


def _write_into(document: dict, new: dict, prefix: str, changed: dict[str, object]) -> bool:
    """Make the round-trip `document` hold `new`, touching only the keys whose value differs
    (recorded in `changed`) and deleting those `new` lacks; say whether anything changed."""
    touched = False
    for key, value in new.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        old = document.get(key)
        if key in document and isinstance(old, dict) and isinstance(value, dict):
            touched |= _write_into(old, value, dotted, changed)
        elif key not in document or not _same(_plain(old), value):
            document[key] = _styled(value, old)
            changed.update(_flatten(value, dotted))
            touched = True
    for key in [key for key in document if key not in new]:
        del document[key]
        touched = True
    return touched


def _round_trip() -> YAML:
    """ruamel's round-trip YAML, keeping quotes and comments, writing None as `null` (ruamel
    writes nothing). `add_representer` registers on the class: a subclass keeps the change out of
    every other ruamel user in the process (tools/stage_deps.py writes dvc.yaml's bare keys)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class NullRepresenter(RoundTripRepresenter):
        pass

    NullRepresenter.add_representer(
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"))
    round_trip = YAML()
    round_trip.Representer = NullRepresenter
    round_trip.preserve_quotes = True
    return round_trip


def _check(staged: Path, params_path: Path, overrides: Sequence[str]) -> None:
    """Load `staged` as typed params; an error names the key as in `params_path`."""
    try:
        load_params(staged)
    except ConfigError as exc:
        raise ConfigError(f"overrides {list(overrides)}: {str(exc).replace(str(staged), str(params_path))}") \
            from None


def apply_param_overrides(project_dir: Path, overrides: Sequence[str]) -> dict[str, object]:
    """Apply `-S`-style overrides to the project's params.yaml; return the values that changed
    or were added (dotted keys), {} when params.yaml had them all already.

    A malformed override, a key params.yaml lacks, or a result that is not valid typed params
    is a `ConfigError` naming the override or the key, and params.yaml stays as it was.
    """
    params_path = project_dir / PARAMS_FILE
    round_trip = _round_trip()
    document = round_trip.load(params_path)
    try:
        new = _overridden(_plain(document), overrides)
    except _BadOverride as exc:
        raise ConfigError(f"overrides {list(overrides)}: {exc}; keys are those of {params_path}, "
                          "e.g. train.epochs=3") from None
    changed: dict[str, object] = {}
    if not _write_into(document, new, "", changed):
        return {}
    with tempfile.TemporaryDirectory(prefix=".overrides.", dir=project_dir) as scratch:
        staged = Path(scratch) / PARAMS_FILE
        with staged.open("w", encoding="utf-8") as handle:
            round_trip.dump(document, handle)
        _check(staged, params_path, overrides)  # an added or removed key stops here
        os.replace(staged, params_path)
    return changed
