"""The project's layers, lowest first: a module may import its own layer and those below it, never
one above (lazy imports inside functions count). This list is the one place the order is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT
from tools.import_graph import PACKAGES, imported_modules, module_path

LAYERS = (
    "alexnet_pipeline.errors",
    "alexnet_pipeline.config",
    "alexnet_pipeline.core",
    "alexnet_pipeline.sources",
    "alexnet_pipeline.validation",
    "alexnet_pipeline.shards",
    "alexnet_pipeline.input",
    "alexnet_pipeline.training",
    "alexnet_pipeline.evaluation",
    "alexnet_pipeline.drift",
    "alexnet_pipeline.registry",
    "alexnet_pipeline.reporting",
    "stages",
    "pipelines",
    "alexnet_pipeline.cli",
)


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the longest layer name that `module` is or lies under; None for the
    bare package `alexnet_pipeline` (its `__init__`, which holds no code)."""
    matches = [i for i, name in enumerate(LAYERS) if module == name or module.startswith(f"{name}.")]
    return max(matches, key=lambda i: len(LAYERS[i])) if matches else None


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def upward_imports(root: Path) -> list[str]:
    """`importer -> imported` for every import of a higher layer, over the project's modules."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            importer = module_name(root, path)
            own = layer_of(importer)
            assert own is not None or importer == "alexnet_pipeline", f"{importer} is in no layer: add it to LAYERS"
            for imported in sorted(imported_modules(root, path)):
                if module_path(root, imported) is None:
                    continue  # not a project module (or a name inside one)
                theirs = layer_of(imported)
                if theirs is not None and own is not None and theirs > own:
                    found.append(f"{importer} -> {imported}")
    return found


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports(REPO_ROOT) == []


def test_every_library_subpackage_is_a_layer() -> None:
    subpackages = {f"alexnet_pipeline.{p.name}" for p in (REPO_ROOT / "alexnet_pipeline").iterdir()
                   if (p / "__init__.py").is_file()}
    assert subpackages <= set(LAYERS)


@pytest.mark.parametrize(("importer", "text", "expected"), [
    ("alexnet_pipeline/config/schema.py", "from alexnet_pipeline.sources import sample_data\n",
     ["alexnet_pipeline.config.schema -> alexnet_pipeline.sources",
      "alexnet_pipeline.config.schema -> alexnet_pipeline.sources.sample_data"]),
    ("alexnet_pipeline/core/atomic.py", "def f():\n    import alexnet_pipeline.training.model\n",
     ["alexnet_pipeline.core.atomic -> alexnet_pipeline.training.model"]),
    ("alexnet_pipeline/training/model.py", "from alexnet_pipeline.core import atomic\n", []),
])
def test_an_upward_import_is_named(tmp_path: Path, importer: str, text: str, expected: list[str]) -> None:
    """Planted in a copy of the library: a low module importing a higher one, eagerly or lazily."""
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            target = tmp_path / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    (tmp_path / importer).write_text(text)
    assert upward_imports(tmp_path) == expected
