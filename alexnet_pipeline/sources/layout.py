"""Find a dataset's images in the folder shapes Kaggle datasets and users commonly have.

Recognised: `<split>/<class>/<file>` with split names such as `train`, `training_set`,
`validation` or `test` (nested as `training_set/training_set/<class>` too), class folders with
no split (everything is train; preprocess carves val and test), a wrapper folder around either,
class-id folders (`n0..n9`) named by a labels file (`monkey_labels.txt`), and flat folders whose
file names carry the class (`train/cat.0.jpg`, as in the dogs-vs-cats competition; a folder of
unlabelled files beside it, such as `test1/`, is left out). Junk that
archives and desktops leave behind (`__MACOSX`, `.DS_Store`, hidden files) is ignored, and so
are loose files beside the split folders (such as `layout.json`).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alexnet_pipeline.errors import PipelineError

SPLITS = ("train", "val", "test")  # canonical split names, in pipeline order
SPLIT_ALIASES = {
    **dict.fromkeys(("train", "training", "train_set", "training_set", "trainset"), "train"),
    **dict.fromkeys(("val", "valid", "validation", "val_set", "validation_set", "dev"), "val"),
    **dict.fromkeys(("test", "testing", "test_set", "testset"), "test"),
}
JUNK_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}
LABELS_FILE_SUFFIXES = (".txt", ".csv", ".tsv")
NAME_COLUMN_HINTS = ("common name", "class name", "name", "class", "label name")
LABELLED_FILE_NAME = re.compile(r"(?P<label>[A-Za-z][A-Za-z-]*)[._](?P<id>\d+)(\.[^.]+)+")


@dataclass(frozen=True)
class ImageEntry:
    """One file of the dataset: where it is, its canonical split and its class name."""

    source: Path
    split: str
    label: str

    @property
    def relpath(self) -> str:
        return f"{self.split}/{self.label}/{self.source.name}"


@dataclass(frozen=True)
class Layout:
    """What was found: where each split's class folders are and what the classes are called."""

    shape: str  # "splits" or "classes"
    split_dirs: dict[str, Path]  # canonical split -> folder of class folders
    class_names: dict[str, str] = field(default_factory=dict)  # folder name -> class name
    labels_file: Path | None = None
    notes: tuple[str, ...] = ()
    flat_splits: frozenset[str] = frozenset()  # splits whose file names carry the class

    def as_json(self, root: Path) -> dict[str, Any]:
        """The layout for `layout.json`, with paths relative to the dataset root."""
        return {
            "shape": self.shape,
            "split_folders": {s: str(p.relative_to(root)) for s, p in self.split_dirs.items()},
            "labels_file": str(self.labels_file.relative_to(root)) if self.labels_file else None,
            "class_names": self.class_names,
            "labels_from_file_names": sorted(self.flat_splits),
            "notes": list(self.notes),
        }


def is_junk(path: Path) -> bool:
    """True for OS and archive leftovers that are never part of a dataset."""
    return path.name in JUNK_NAMES or path.name.startswith(".")


def escaping_link(path: Path, root: Path) -> str | None:
    """Why `path` must not be read when it is, or passes through, a symbolic link leading out of
    the dataset at `root` (resolved); None when it stays inside."""
    target = path.resolve()
    if target.is_relative_to(root):
        return None
    return f"symbolic link to {target}, outside the dataset: not read"


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_junk(p))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.is_dir() and not is_junk(p))


def _split_of(folder: Path) -> str | None:
    """The canonical split a folder name stands for (`training_set`, `test1` -> train, test)."""
    name = folder.name.lower()
    return SPLIT_ALIASES.get(name) or SPLIT_ALIASES.get(name.rstrip("0123456789"))


def label_from_file_name(path: Path) -> str | None:
    """`cat.12.jpg` or `dog_7.png` -> the class; None for a name without one (`12.jpg`)."""
    match = LABELLED_FILE_NAME.fullmatch(path.name)
    return match.group("label").lower() if match else None


def _flat_folder_kind(folder: Path) -> str | None:
    """For a folder of files and no subfolders: "labelled" when every file name carries one of
    two or more classes, "unlabelled" when none does; None when it has subfolders or no files."""
    files = _files(folder)
    if _subdirs(folder) or not files:
        return None
    labels = [label_from_file_name(file) for file in files]
    if all(label is None for label in labels):
        return "unlabelled"
    if None in labels:
        odd = files[labels.index(None)]
        raise PipelineError(f"{odd}: no class in its name, unlike the other files of {folder} "
                            "(named like cat.1.jpg); rename or remove it")
    if len(set(labels)) < 2:
        raise PipelineError(f"{folder}: every file name has the class {labels[0]!r}; a dataset "
                            "needs two classes or more")
    return "labelled"


def _unwrap_split(folder: Path) -> Path:
    """`training_set/training_set/<class>`: step into a lone inner folder that is a split too."""
    inner = _subdirs(folder)
    while len(inner) == 1 and _split_of(inner[0]) == _split_of(folder) and not _files(folder):
        folder = inner[0]
        inner = _subdirs(folder)
    return folder


def _read_labels_file(path: Path, folder_names: set[str]) -> dict[str, str] | None:
    """Folder name -> class name from a CSV-like file whose key column lists every class folder."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    dialect = "excel-tab" if "\t" in text.splitlines()[0] and "," not in text.splitlines()[0] else "excel"
    rows = [[cell.strip() for cell in row] for row in csv.reader(text.splitlines(), dialect)]
    rows = [row for row in rows if any(row)]
    if len(rows) < 2:
        return None
    header, body = [h.lower() for h in rows[0]], rows[1:]
    columns = list(zip(*[row + [""] * (len(header) - len(row)) for row in body], strict=False))
    for key_index, keys in enumerate(columns):
        if not folder_names <= set(keys):
            continue
        others = [i for i in range(len(columns)) if i != key_index]
        hinted = [i for hint in NAME_COLUMN_HINTS for i in others if header[i] == hint]
        name_index = (hinted or others or [None])[0]
        if name_index is None:
            return None
        mapping = {k: v.replace("/", "_") for k, v in zip(keys, columns[name_index], strict=False)
                   if k in folder_names and v}
        if len(mapping) == len(folder_names) and len(set(mapping.values())) == len(mapping):
            return mapping
    return None


def _find_labels_file(folders: list[Path], folder_names: set[str]) -> tuple[Path, dict[str, str]] | None:
    for folder in folders:
        for candidate in _files(folder):
            if candidate.suffix.lower() in LABELS_FILE_SUFFIXES:
                mapping = _read_labels_file(candidate, folder_names)
                if mapping:
                    return candidate, mapping
    return None


def detect_layout(root: Path) -> Layout:
    """Work out where the splits and classes of the dataset under `root` are."""
    if not root.is_dir():
        raise PipelineError(f"{root}: dataset folder not found")
    top = root
    while len(_subdirs(top)) == 1 and _split_of(_subdirs(top)[0]) is None:
        top = _subdirs(top)[0]  # a wrapper folder such as `dataset/` (a README beside it is fine)
    children = _subdirs(top)
    if not children and _flat_folder_kind(top) == "labelled":
        note = "no split folders: every file is train, its class from its name; val and test are carved"
        return Layout("classes", {"train": top}, {}, None, (note,), frozenset({"train"}))
    if not children:
        raise PipelineError(
            f"{root}: no images found; expected <split>/<class>/<image> folders such as "
            "train/cat/1.jpg, or one folder per class")
    split_dirs: dict[str, Path] = {}
    notes: list[str] = []
    flat: set[str] = set()
    if any(_split_of(child) for child in children):
        for child in children:
            split = _split_of(child)
            if split is None:
                raise PipelineError(
                    f"{child}: not a split folder, beside split folders; expected names such as "
                    f"{', '.join(sorted(set(SPLIT_ALIASES)))}")
            if split in split_dirs:
                raise PipelineError(f"{child} and {split_dirs[split]} are both the {split!r} split")
            split_dirs[split] = _unwrap_split(child)
        for split, folder in list(split_dirs.items()):
            kind = _flat_folder_kind(folder)
            if kind == "labelled":
                flat.add(split)
            elif kind == "unlabelled":
                del split_dirs[split]
                notes.append(f"{folder.relative_to(root)}: {len(_files(folder))} files without "
                             "classes in their names (a competition's submission set?) are left out")
        if "train" not in split_dirs:
            raise PipelineError(f"{root}: no train split folder (train/, training/, training_set/...)")
        if "test" not in split_dirs and "val" in split_dirs:
            split_dirs["test"] = split_dirs.pop("val")
            notes.append(f"no test split: {split_dirs['test'].relative_to(root)} is used as test, "
                         "and val is carved from train")
        shape = "splits"
    else:
        split_dirs["train"] = top
        notes.append("no split folders: every class folder is train; val and test are carved from it")
        shape = "classes"
    folder_names = {d.name for folder in split_dirs.values() for d in _subdirs(folder)}
    found = _find_labels_file([top, root, *split_dirs.values()], folder_names) if folder_names else None
    labels_file, class_names = found if found else (None, {name: name for name in sorted(folder_names)})
    return Layout(shape, split_dirs, dict(sorted(class_names.items())), labels_file, tuple(notes),
                  frozenset(flat))


def find_images(root: Path, layout: Layout | None = None) -> list[ImageEntry]:
    """Every file of the dataset under `root`, sorted, with canonical split and class names."""
    layout = layout or detect_layout(root)
    entries: list[ImageEntry] = []
    for split, split_dir in layout.split_dirs.items():
        if split in layout.flat_splits:
            entries.extend(ImageEntry(file, split, label_from_file_name(file) or "")
                           for file in _files(split_dir))
            continue
        for class_dir in _subdirs(split_dir):
            label = layout.class_names.get(class_dir.name, class_dir.name)
            for file in _files(class_dir):
                entries.append(ImageEntry(file, split, label))
            nested = _subdirs(class_dir)
            if nested:
                raise PipelineError(f"{nested[0]}: unexpected folder inside class folder {class_dir}")
        loose = [p for p in _files(split_dir) if p != layout.labels_file]
        if loose and layout.shape == "splits":
            raise PipelineError(f"{loose[0]}: a file directly in a split folder; put images in "
                                f"{split_dir}/<class name>/")
    if not entries:
        raise PipelineError(
            f"{root}: no images found; expected <split>/<class>/<image> folders such as train/cat/1.jpg")
    return sorted(entries, key=lambda e: (SPLITS.index(e.split), e.label, e.source.name))


def summarize(entries: list[ImageEntry]) -> dict[str, dict[str, int]]:
    """Count files per split and class: `{split: {class: n}}`."""
    counts: dict[str, Counter] = {}
    for entry in entries:
        counts.setdefault(entry.split, Counter())[entry.label] += 1
    return {split: dict(sorted(c.items())) for split, c in sorted(counts.items())}
