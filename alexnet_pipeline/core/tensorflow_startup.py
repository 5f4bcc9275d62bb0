"""Keep TensorFlow's C++ start-up log (oneDNN, CPU features) out of what a command prints.

TensorFlow 2.21 logs those lines through absl before absl's logging is initialised, so they go
to stderr whatever `TF_CPP_MIN_LOG_LEVEL` says. `quiet_startup()` arranges for the first
`import tensorflow` to run with file descriptor 2 captured; its INFO lines and absl's notice are
dropped, and anything else it wrote (a warning, an error) is written on to stderr.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from types import ModuleType

# absl's INFO record header (`I0000 00:00:1796449267.516336   26468 port.cc:153] `: the time is
# absl's own before initialisation), its notice, and the one start-up record that spans two lines
STARTUP_LINE = re.compile(r"I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] |"
                          r"WARNING: All log messages before absl::InitializeLog\(\) is called|"
                          r"To enable the following instructions: .*rebuild TensorFlow")


def kept_lines(text: str) -> str:
    """`text` without TensorFlow's start-up INFO lines and absl's pre-initialisation notice."""
    return "".join(line for line in text.splitlines(keepends=True) if not STARTUP_LINE.match(line))


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with stderr captured and filtered."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                kept = kept_lines(captured.read().decode(errors="replace"))
                if kept:
                    os.write(2, kept.encode())


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, as the other finders would, and hands it the quiet loader."""

    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_startup() -> None:
    """Filter the start-up log of the first `import tensorflow` in this process (a no-op when
    TensorFlow is imported already). TensorFlow itself is not imported here."""
    if "tensorflow" not in sys.modules and not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
