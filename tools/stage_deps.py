"""dvc.yaml's code deps, generated from the code. A stage's command is `python -m MODULE`; its
code deps are exactly the project files (under alexnet_pipeline/, stages/, pipelines/) that
MODULE imports, directly or through other modules (lazy imports inside functions included,
package `__init__.py` files too; see tools/import_graph.py), sorted, plus the package data files
of PACKAGE_DATA whose reader is among them. Every other dep (the `${paths...}` entries) is kept,
in its order, after the code files.

    python -m tools.stage_deps           rewrite dvc.yaml's code deps (comments and layout kept)
    python -m tools.stage_deps --check   name each stage's missing and needless deps; exit 1 if any

A folder dep, or a file the stage does not import, is needless: DVC would rerun the stage when
it changes although the stage's outputs cannot.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from tools.import_graph import PACKAGES, import_closure

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGE_MODULE = re.compile(r"python -m ([\w.]+)")
# Every file inside the project packages that is not Python, and the project file that reads it:
# it is a dep of each stage that imports the reader. A non-.py file missing here is an error, so
# a new template or data file cannot be forgotten.
PACKAGE_DATA = {
    # through jinja2.PackageLoader("alexnet_pipeline.reporting", "templates")
    "alexnet_pipeline/reporting/templates/report.html.j2": "stages/report.py",
}
IGNORED_SUFFIXES = (".py", ".pyc")


@dataclass(frozen=True)
class StageDiff:
    """How one stage's deps differ from the generated ones."""

    stage: str
    missing: list[str]
    needless: list[str]
    reordered: bool  # the same deps as the generated ones, in another order

    def lines(self) -> list[str]:
        found = [f"stage `{self.stage}`:"]
        for path in self.missing:
            folders = [dep for dep in self.needless if Path(dep) in Path(path).parents]
            found.append(f"  missing:  {path}" + (f"  (only through the folder dep {folders[0]})"
                                                   if folders else ""))
        found += [f"  needless: {path}{'  (a folder)' if not Path(path).suffix else ''}"
                  for path in self.needless]
        if self.reordered:
            found.append("  deps out of order or repeated (code files sorted first, then the "
                         "other deps)")
        return found


def _yaml() -> YAML:
    """Round-trip YAML in dvc.yaml's layout: comments, quotes and line breaks kept."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def stage_module(stage: dict[str, Any]) -> str | None:
    """The module of a `python -m MODULE` command, else None (the stage is left alone)."""
    cmd = stage.get("cmd")
    cmd = " ".join(cmd) if isinstance(cmd, list) else cmd
    found = STAGE_MODULE.search(cmd) if isinstance(cmd, str) else None
    return found.group(1) if found else None


def is_code_dep(dep: object) -> bool:
    """A dep on project code: a path (file or folder) under one of the project packages."""
    return (isinstance(dep, str) and "${" not in dep
            and Path(dep).parts[:1] in {(package,) for package in PACKAGES})


def package_data_errors(root: Path, package_data: dict[str, str] | None = None) -> list[str]:
    """Non-Python files in the project packages that PACKAGE_DATA does not declare, and declared
    ones (or their readers) that do not exist."""
    package_data = PACKAGE_DATA if package_data is None else package_data
    errors = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if (path.is_file() and not path.name.endswith(IGNORED_SUFFIXES)
                    and "__pycache__" not in path.parts and relative not in package_data):
                errors.append(f"{relative}: a non-Python file in a project package; declare the "
                              "module that reads it in tools/stage_deps.py PACKAGE_DATA")
    for data, reader in package_data.items():
        for relative in (data, reader):
            if not (root / relative).is_file():
                errors.append(f"{relative}: in tools/stage_deps.py PACKAGE_DATA but not a file")
    return errors


def code_deps(root: Path, module: str, package_data: dict[str, str] | None = None) -> list[str]:
    """The sorted project files `python -m module` runs or reads: its import closure plus the
    package data its modules read (default: PACKAGE_DATA)."""
    package_data = PACKAGE_DATA if package_data is None else package_data
    files = {path.relative_to(root).as_posix() for path in import_closure(root, module)}
    files |= {data for data, reader in package_data.items() if reader in files}
    return sorted(files)


def generated_deps(root: Path, stages: dict[str, Any],
                   package_data: dict[str, str] | None = None) -> dict[str, list]:
    """{stage: the deps it should have} for every `python -m` stage of `stages`."""
    found = {}
    for name, stage in stages.items():
        module = stage_module(stage)
        if module is not None:
            kept = [dep for dep in stage.get("deps") or [] if not is_code_dep(dep)]
            found[name] = code_deps(root, module, package_data) + kept
    return found


def load(text: str) -> CommentedMap:
    return _yaml().load(text)


def differences(root: Path, text: str | None = None,
                package_data: dict[str, str] | None = None) -> list[StageDiff]:
    """How the stages of `text` (default: root/dvc.yaml) differ from the generated deps."""
    stages = load(text if text is not None else (root / "dvc.yaml").read_text())["stages"]
    found = []
    for name, wanted in generated_deps(root, stages, package_data).items():
        current = list(stages[name].get("deps") or [])
        have = {dep for dep in current if is_code_dep(dep)}
        code = {dep for dep in wanted if is_code_dep(dep)}
        missing, needless = sorted(code - have), sorted(have - code)
        if missing or needless or current != wanted:
            found.append(StageDiff(name, missing, needless, not missing and not needless))
    return found


def changed_deps(status: dict[str, list]) -> dict[str, set[str]]:
    """{stage: the deps that `dvc status --json` reports changed} for each stage it lists (a
    stage listed only as `always changed`, like `source`, gets an empty set). The JSON's shape:
    `{"train": [{"changed deps": {"alexnet_pipeline/errors.py": "modified"}}], "source":
    ["always changed"]}`."""
    return {stage: {path for entry in entries if isinstance(entry, dict)
                    for path in entry.get("changed deps") or {}}
            for stage, entries in status.items()}


def stale_because_of(status: dict[str, list], path: str) -> set[str]:
    """The stages `dvc status --json` reports stale because the dep `path`, or a folder dep that
    holds it, changed."""
    return {stage for stage, deps in changed_deps(status).items()
            if any(dep == path or Path(dep) in Path(path).parents for dep in deps)}


def _replace(seq: CommentedSeq, new: list) -> None:
    """Set `seq`'s items to `new` in place, keeping each surviving item's comment and the comment
    block after the last item (ruamel keeps both on the item, by index)."""
    old = list(seq)
    comments = {old[index]: comment for index, comment in seq.ca.items.items() if index < len(old)}
    seq.ca.items.clear()
    del seq[:]
    seq.extend(new)
    for index, item in enumerate(new):
        if item in comments:
            seq.ca.items[index] = comments.pop(item)
    if old and new and old[-1] in comments:  # the last item is gone: its trailing block moves on
        seq.ca.items[len(new) - 1] = comments[old[-1]]


def rewrite(root: Path, text: str, package_data: dict[str, str] | None = None) -> str:
    """`text` (a dvc.yaml) with every `python -m` stage's deps replaced by the generated ones."""
    yaml = _yaml()
    data = yaml.load(text)
    stages = data["stages"]
    for name, wanted in generated_deps(root, stages, package_data).items():
        stage = stages[name]
        if "deps" in stage and stage["deps"] is not None:
            if list(stage["deps"]) != wanted:
                _replace(stage["deps"], wanted)
        elif wanted:
            stage.insert(list(stage).index("cmd") + 1 if "cmd" in stage else 0, "deps",
                         CommentedSeq(wanted))
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stage_deps", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 naming every missing or needless dep")
    parser.add_argument("--root", type=Path, default=REPO_ROOT,
                        help="the project (default: this one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    errors = package_data_errors(root)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    path = root / "dvc.yaml"
    if args.check:
        found = differences(root, path.read_text())
        for diff in found:
            print("\n".join(diff.lines()))
        if found:
            print(f"{path}: deps differ from the code's imports in {len(found)} stage(s); "
                  "run `make deps` (python -m tools.stage_deps)")
            return 1
        print(f"{path}: every stage's code deps are exactly what it imports")
        return 0
    text = path.read_text()  # read right before writing: keep others' edits to the file
    new = rewrite(root, text)
    if new != text:
        path.write_text(new)
    changed = [diff.stage for diff in differences(root, text)]
    print(f"{path}: rewrote the deps of {', '.join(changed)}" if changed else f"{path}: up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
