"""find_images reads <split>/<class>/<file> trees, with split aliases and OS junk ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.layout import ImageEntry, find_images, is_junk, summarize


def _touch(root: Path, *relpaths: str) -> None:
    for relpath in relpaths:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_aliases_are_canonical_and_junk_is_ignored(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "training/cat/1.jpg", "training/cat/2.jpg", "training/dog/1.jpg",
        "validation/cat/3.jpg",
        "testing/dog/9.png",
        # junk everywhere it shows up in real downloads
        "training/cat/.DS_Store", "training/.DS_Store", ".DS_Store",
        "training/dog/._1.jpg", "training/dog/Thumbs.db", "training/.hidden_class/a.jpg",
        "__MACOSX/training/cat/._1.jpg", ".git/config",
        # top-level files (such as layout.json) are not part of any split
        "layout.json", "README.txt",
    )
    entries = find_images(tmp_path)
    assert [e.relpath for e in entries] == [
        "test/dog/9.png", "train/cat/1.jpg", "train/cat/2.jpg", "train/dog/1.jpg", "val/cat/3.jpg",
    ]
    first = entries[0]
    assert first == ImageEntry(tmp_path / "testing/dog/9.png", "test", "dog")
    assert first.source.is_file()
    assert summarize(entries) == {"test": {"dog": 1}, "train": {"cat": 2, "dog": 1},
                                  "val": {"cat": 1}}


def test_split_names_are_case_insensitive_and_class_names_kept(tmp_path: Path) -> None:
    _touch(tmp_path, "Train/Cat/a.jpg", "VALID/Cat/b.jpg", "Test/Cat/c.jpg")
    assert [(e.split, e.label) for e in find_images(tmp_path)] == [
        ("test", "Cat"), ("train", "Cat"), ("val", "Cat")]


@pytest.mark.parametrize("name", [".DS_Store", "__MACOSX", "Thumbs.db", "desktop.ini", ".hidden"])
def test_is_junk(name: str) -> None:
    assert is_junk(Path("some") / name)


@pytest.mark.parametrize("name", ["cat.jpg", "MACOSX", "a.DS_Store.jpg"])
def test_is_not_junk(name: str) -> None:
    assert not is_junk(Path(name))


def test_unknown_split_folder_name_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path, "train/cat/1.jpg", "cats/x/1.jpg")
    with pytest.raises(PipelineError, match="cats: not a split folder"):
        find_images(tmp_path)


def test_class_folders_at_top_level_are_an_error(tmp_path: Path) -> None:
    """A common mistake: <class>/<image> without split folders."""
    _touch(tmp_path, "cat/1.jpg", "dog/1.jpg")
    with pytest.raises(PipelineError, match="not a split folder"):
        find_images(tmp_path)


def test_file_directly_in_a_split_folder_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path, "train/cat/1.jpg", "train/loose.jpg")
    with pytest.raises(PipelineError, match="loose.jpg: a file directly in a split folder"):
        find_images(tmp_path)


def test_folder_inside_a_class_folder_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path, "train/cat/1.jpg", "train/cat/more/2.jpg")
    with pytest.raises(PipelineError, match="unexpected folder inside class folder"):
        find_images(tmp_path)


def test_two_folders_for_one_split_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path, "train/cat/1.jpg", "training/cat/2.jpg")
    with pytest.raises(PipelineError, match="both the 'train' split"):
        find_images(tmp_path)


def test_no_train_split_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path, "test/cat/1.jpg", "val/cat/2.jpg")
    with pytest.raises(PipelineError, match="no train split"):
        find_images(tmp_path)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no images found"):
        find_images(tmp_path)


def test_folder_with_only_empty_class_folders_and_junk_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    _touch(tmp_path, "train/cat/.DS_Store", "__MACOSX/train/cat/._1.jpg")
    with pytest.raises(PipelineError, match="no images found"):
        find_images(tmp_path)


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="dataset folder not found"):
        find_images(tmp_path / "nowhere")


def test_a_file_instead_of_a_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "data.zip").write_bytes(b"PK")
    with pytest.raises(PipelineError, match="dataset folder not found"):
        find_images(tmp_path / "data.zip")
