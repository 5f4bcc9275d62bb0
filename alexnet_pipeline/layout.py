"""Find the images of a dataset laid out as `<split>/<class>/<file>`, as Kaggle ships them.

Split folder names are normalised (`training` -> `train`, `validation` -> `val`, ...); junk that
archives and desktops leave behind (`__MACOSX`, `.DS_Store`, hidden files) is ignored, and so
are files at the top level (such as `layout.json`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from alexnet_pipeline.errors import PipelineError

SPLITS = ("train", "val", "test")  # canonical split names, in pipeline order
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}
JUNK_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class ImageEntry:
    """One file of the dataset: where it is (relative to the root), its split and its label."""

    source: Path
    split: str
    label: str

    @property
    def relpath(self) -> str:
        return f"{self.split}/{self.label}/{self.source.name}"


def is_junk(path: Path) -> bool:
    """True for OS and archive leftovers that are never part of a dataset."""
    return path.name in JUNK_NAMES or path.name.startswith(".")


def find_images(root: Path) -> list[ImageEntry]:
    """List every file under `root/<split>/<class>/`, sorted, with canonical split names."""
    if not root.is_dir():
        raise PipelineError(f"{root}: dataset folder not found")
    entries: list[ImageEntry] = []
    seen_splits: dict[str, Path] = {}
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir() and not is_junk(p)):
        split = SPLIT_ALIASES.get(split_dir.name.lower())
        if split is None:
            raise PipelineError(
                f"{split_dir}: not a split folder; expected a folder of split folders "
                f"({', '.join(sorted(SPLIT_ALIASES))}), each holding one folder per class"
            )
        if split in seen_splits:
            raise PipelineError(f"{split_dir} and {seen_splits[split]} are both the {split!r} split")
        seen_splits[split] = split_dir
        for class_dir in sorted(p for p in split_dir.iterdir() if not is_junk(p)):
            if not class_dir.is_dir():
                raise PipelineError(
                    f"{class_dir}: a file directly in a split folder; put images in "
                    f"{split_dir}/<class name>/"
                )
            for file in sorted(p for p in class_dir.iterdir() if not is_junk(p)):
                if file.is_dir():
                    raise PipelineError(f"{file}: unexpected folder inside class folder {class_dir}")
                entries.append(ImageEntry(file, split, class_dir.name))
    if not entries:
        raise PipelineError(
            f"{root}: no images found; expected <split>/<class>/<image> folders such as train/cat/1.jpg"
        )
    if "train" not in seen_splits:
        raise PipelineError(f"{root}: no train split folder (train/ or training/)")
    return entries


def summarize(entries: list[ImageEntry]) -> dict[str, dict[str, int]]:
    """Count files per split and class: `{split: {class: n}}`."""
    counts: dict[str, Counter] = {}
    for entry in entries:
        counts.setdefault(entry.split, Counter())[entry.label] += 1
    return {split: dict(sorted(c.items())) for split, c in sorted(counts.items())}
