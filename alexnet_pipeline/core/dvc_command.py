"""How this project calls DVC: as this interpreter's module, with its bin folder first on PATH.

DVC runs each stage's `python -m stages.<name>` through the shell, so the environment's own
`python` must come first on PATH even when the environment is not activated.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

LOCK_FILE = "dvc.lock"  # DVC's record of each stage's last run: deps, params and outs hashes
PARAMS_FILE = "params.yaml"  # every knob, in the project root; dvc.yaml reads the same file


def dvc_command(args: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run `dvc ARGS` with this environment's Python."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    return [sys.executable, "-m", "dvc", *args], env
