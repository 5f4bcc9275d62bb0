"""Flow parameter overrides, applied to params.yaml the way `dvc exp run -S key=value` does.

DVC's own override code (Hydra syntax, comments kept) edits a copy; the copy must load as valid
typed params before it replaces params.yaml, so a bad override leaves the file untouched. Like
`dvc exp run -S` in the workspace, the values stay in params.yaml: dvc.lock, params.yaml and the
metrics then agree, and `git diff params.yaml` shows what the run used.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alexnet_pipeline.config import load_params
from alexnet_pipeline.errors import ConfigError

PARAMS_FILE = "params.yaml"


def _flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, object] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _check(staged: Path, params_path: Path, overrides: Sequence[str]) -> None:
    """Load `staged` as typed params; an error names the key as in `params_path`."""
    try:
        load_params(staged)
    except ConfigError as exc:
        raise ConfigError(f"overrides {list(overrides)}: {str(exc).replace(str(staged), str(params_path))}") \
            from None


def _set(tree: dict, dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree[key]
    tree[leaf] = value


def apply_param_overrides(project_dir: Path, overrides: Sequence[str]) -> dict[str, object]:
    """Apply `key=value` overrides to the project's params.yaml; return the values that changed.

    Only the changed values are rewritten, so every other line (comments, quoting, flow-style
    lists) stays as it was; DVC's own rewrite would reformat the whole file.
    """
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides
    from ruamel.yaml import YAML

    params_path = project_dir / PARAMS_FILE
    malformed = [item for item in overrides if "=" not in item]
    if malformed:
        raise ConfigError(f"overrides: {malformed[0]!r} is not key=value (e.g. train.epochs=3)")
    round_trip = YAML()
    round_trip.preserve_quotes = True
    round_trip.representer.add_representer(  # ruamel writes None as nothing; keep `null`
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"))
    with tempfile.TemporaryDirectory(prefix=".overrides.", dir=project_dir) as scratch:
        staged = Path(scratch) / PARAMS_FILE
        shutil.copy2(params_path, staged)
        try:
            apply_overrides(staged, list(overrides))
        except InvalidArgumentError as exc:
            cause = str(exc.__cause__ or exc).strip().splitlines()[0]
            raise ConfigError(f"overrides {list(overrides)}: {cause}; keys are those of {params_path}, "
                              "e.g. train.epochs=3") from None
        _check(staged, params_path, overrides)  # an added or removed key stops here
        document = round_trip.load(params_path)
        before, after = _flatten(document), _flatten(round_trip.load(staged))
        changed = {key: value for key, value in after.items() if key not in before or before[key] != value}
        if not changed:
            return {}
        for key, value in changed.items():
            _set(document, key, value)
        with staged.open("w", encoding="utf-8") as handle:
            round_trip.dump(document, handle)
        _check(staged, params_path, overrides)
        os.replace(staged, params_path)
    return changed
