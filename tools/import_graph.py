"""The project's import graph, read from the source with `ast` (lazy imports inside functions
included): which project modules a file imports, and everything a module pulls in. Read by
`tools/stage_deps.py` (dvc.yaml's code deps) and `tests/test_layers.py` (the layer order)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGES = ("alexnet_pipeline", "stages", "pipelines")


def module_path(root: Path, name: str) -> Path | None:
    """The file of project module `name` under `root` (a module or a package), else None."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(root: Path, path: Path) -> set[str]:
    """Names of the modules `path` imports anywhere in its body (`from a import b` counts a.b
    when b is a module); relative imports resolved."""
    package = path.relative_to(root).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = list(package[:len(package) - node.level + 1]) if node.level else []
            base = ".".join(anchor + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names
                         if module_path(root, f"{base}.{alias.name}") is not None)
    return names


def import_closure(root: Path, module: str) -> set[Path]:
    """Every project file that running `python -m module` imports, package `__init__`s included."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
            path = module_path(root, ".".join(parts[:depth]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imported_modules(root, path))
    return seen
