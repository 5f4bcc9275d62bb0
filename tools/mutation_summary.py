"""The per-module summary of `make mutation` (docs/development/mutation.md), from mutmut 3's results.

mutmut keeps one `mutants/<source path>.meta` JSON file per mutated source file; its
`exit_code_by_key` maps each mutant's name to the exit code of that mutant's test run (None: not
run yet), which mutmut's own `status_by_exit_code` turns into killed, survived, timeout, ...

    python -m tools.mutation_summary PATH...             a table per module, then the survivors
    python -m tools.mutation_summary --patterns PATH...  the mutant-name globs of PATHs, for
                                                         `mutmut run`; exit 1 naming a PATH that
                                                         [tool.mutmut] only_mutate leaves out
    mutmut run ... | python -m tools.mutation_summary --filter
                                                         mutmut's output as it comes, less its
                                                         closing list of every mutant's result

A PATH is a source folder or file, as in [tool.mutmut] only_mutate (`alexnet_pipeline/drift`,
`alexnet_pipeline/config`). Score is killed / total: a timeout, a mutant no test reaches and
one never run all count against it.

The module is also a pytest plugin for mutmut's test runs (`-p tools.mutation_summary` in
[tool.mutmut] pytest_add_cli_args): see `pytest_unconfigure`.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import json
import os
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.stats import status_by_exit_code

REPO_ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["killed", "survived", "timeout", "no tests"]  # every other status is counted as "other"
RESULTS_LIST = "\nMutant results\n"  # what `mutmut run NAME...` prints last: one line per mutant


def pytest_unconfigure(config) -> None:
    """After mutmut's fork server has imported the tests (`pytest --collect-only`, its warm-up),
    exempt everything imported from garbage collection, as mutmut does in its own process before
    it forks. Each mutant's test run is a fork of that server, and pytest collects garbage at its
    end: over an unfrozen heap (TensorFlow's, from the evaluation tests) that walks, and so copies,
    every page: 0.7-0.9 s a mutant instead of 0.07 s."""
    if config.option.collectonly:
        gc.collect()
        gc.freeze()


def filter_results_list(source: int = 0, target: int = 1) -> None:
    """Copy `source` to `target` as it comes (mutmut redraws its progress line without newlines),
    dropping everything from mutmut's list of every mutant's result on."""
    held, dropping = b"", False
    marker = RESULTS_LIST.encode()
    while chunk := os.read(source, 65536):
        if dropping:
            continue
        held += chunk
        if marker in held:
            os.write(target, held[:held.index(marker) + 1])
            dropping = True
            continue
        keep = next((n for n in range(len(marker) - 1, 0, -1) if held.endswith(marker[:n])), 0)
        os.write(target, held[:len(held) - keep])
        held = held[len(held) - keep:]
    if not dropping:
        os.write(target, held)


def only_mutate(root: Path = REPO_ROOT) -> list[str]:
    """[tool.mutmut] only_mutate of pyproject.toml: the globs of the files mutmut mutates."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["mutmut"]["only_mutate"])


def source_files(path: str, patterns: list[str], root: Path = REPO_ROOT) -> list[str]:
    """The mutated .py files (relative, sorted) of a source folder or file."""
    target = root / path
    candidates = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    relative = [candidate.relative_to(root).as_posix() for candidate in candidates if candidate.is_file()]
    return [name for name in relative if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]


def mutant_glob(path: str) -> str:
    """mutmut's mutant names are `<dotted module>.<function>__mutmut_<n>`: the glob of a path's."""
    module = path.strip("/").removesuffix(".py").replace("/", ".")
    return f"{module}.*"


@dataclass
class Counts:
    statuses: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def add(self, other: Counts) -> None:
        self.statuses.update(other.statuses)
        self.survivors.extend(other.survivors)

    def row(self, name: str) -> list[str]:
        other = self.total - sum(self.statuses[column] for column in COLUMNS)
        score = f"{100 * self.statuses['killed'] / self.total:.1f}%" if self.total else "-"
        return [name, str(self.total), *(str(self.statuses[column]) for column in COLUMNS), str(other),
                score]


def file_counts(source: str, root: Path = REPO_ROOT) -> Counts | None:
    """The statuses of one source file's mutants, or None before mutmut has generated them."""
    meta = root / "mutants" / f"{source}.meta"
    if not meta.is_file():
        return None
    exit_codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    counts = Counts()
    for name, exit_code in sorted(exit_codes.items()):
        status = status_by_exit_code[exit_code]
        counts.statuses[status] += 1
        if status == "survived":
            counts.survivors.append(name)
    return counts


def format_table(rows: list[list[str]]) -> str:
    header = ["module", "mutants", *COLUMNS, "other", "score"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def summary(paths: list[str], root: Path = REPO_ROOT) -> str:
    patterns = only_mutate(root)
    rows, total, missing = [], Counts(), []
    for path in paths:
        files = source_files(path, patterns, root)
        subtotal = Counts()
        for source in files:
            counts = file_counts(source, root)
            if counts is None:
                missing.append(source)
                continue
            if counts.total:  # a file without functions (an __init__.py) has no mutants
                rows.append(counts.row(source))
            subtotal.add(counts)
        if len(files) > 1:
            rows.append(subtotal.row(f"{path.rstrip('/')}/ (all)"))
        total.add(subtotal)
    if len(paths) > 1:
        rows.append(total.row("total"))
    parts = ["Mutation testing: score = killed / mutants; other = suspicious, segfault, not checked, ...",
             format_table(rows)]
    if missing:
        parts.append("no results yet (run `make mutation` first): " + ", ".join(missing))
    if total.survivors:
        parts.append(f"{len(total.survivors)} survived (see one with `mutmut show NAME`):")
        parts.extend(f"  {name}" for name in total.survivors)
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", help="source folders or files, e.g. alexnet_pipeline/drift")
    parser.add_argument("--patterns", action="store_true",
                        help="print the mutant-name globs for `mutmut run` instead of the summary")
    parser.add_argument("--filter", action="store_true",
                        help="copy standard input to output less mutmut's list of every result")
    args = parser.parse_args(argv)
    if args.filter:
        filter_results_list()
        return 0
    if not args.paths:
        parser.error("name at least one source folder or file")
    if args.patterns:
        patterns = only_mutate()
        unmutated = [path for path in args.paths if not source_files(path, patterns)]
        if unmutated:
            print(f"not mutated by [tool.mutmut] only_mutate {patterns}: {', '.join(unmutated)}",
                  file=sys.stderr)
            return 1
        print(" ".join(mutant_glob(path) for path in args.paths))
        return 0
    print(summary(args.paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
