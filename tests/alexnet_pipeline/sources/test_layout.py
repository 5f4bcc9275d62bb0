"""detect_layout/find_images read the dataset shapes users and Kaggle have; junk is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.layout import (
    ImageEntry,
    detect_layout,
    find_images,
    is_junk,
    summarize,
)
from tests.helpers import SHARED_DATASETS


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
        "train/cat/1.jpg", "train/cat/2.jpg", "train/dog/1.jpg", "val/cat/3.jpg", "test/dog/9.png",
    ]
    last = entries[-1]
    assert last == ImageEntry(tmp_path / "testing/dog/9.png", "test", "dog")
    assert last.source.is_file()
    assert summarize(entries) == {"test": {"dog": 1}, "train": {"cat": 2, "dog": 1},
                                  "val": {"cat": 1}}


def test_split_names_are_case_insensitive_and_class_names_kept(tmp_path: Path) -> None:
    _touch(tmp_path, "Train/Cat/a.jpg", "VALID/Cat/b.jpg", "Test/Cat/c.jpg")
    assert [(e.split, e.label) for e in find_images(tmp_path)] == [
        ("train", "Cat"), ("val", "Cat"), ("test", "Cat")]


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


def test_class_folders_without_splits_are_all_train(tmp_path: Path) -> None:
    _touch(tmp_path, "cat/1.jpg", "cat/2.jpg", "dog/1.jpg", "README.md")
    layout = detect_layout(tmp_path)
    assert layout.shape == "classes" and layout.split_dirs == {"train": tmp_path}
    assert "val and test are carved from it" in layout.notes[0]
    assert [e.relpath for e in find_images(tmp_path)] == ["train/cat/1.jpg", "train/cat/2.jpg",
                                                         "train/dog/1.jpg"]


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


def test_kaggle_nested_split_folders(tmp_path: Path) -> None:
    """The tongpython/cat-and-dog shape: training_set/training_set/<class>."""
    _touch(tmp_path, "training_set/training_set/cats/cat.1.jpg", "training_set/training_set/dogs/dog.1.jpg",
           "test_set/test_set/cats/cat.9.jpg", "test_set/test_set/dogs/dog.9.jpg")
    layout = detect_layout(tmp_path)
    assert layout.as_json(tmp_path)["split_folders"] == {
        "test": "test_set/test_set", "train": "training_set/training_set"}
    assert [e.relpath for e in find_images(tmp_path)] == [
        "train/cats/cat.1.jpg", "train/dogs/dog.1.jpg", "test/cats/cat.9.jpg", "test/dogs/dog.9.jpg"]


def test_wrapper_folder_around_the_splits(tmp_path: Path) -> None:
    _touch(tmp_path, "my-dataset/README.md", "my-dataset/train/cat/1.jpg", "my-dataset/test/cat/2.jpg")
    assert [e.relpath for e in find_images(tmp_path)] == ["train/cat/1.jpg", "test/cat/2.jpg"]


MONKEY_LABELS = (
    "Label,  Latin Name           , Common Name                   , Train Images\n"
    "n0   , alouatta_palliata\t , mantled_howler                , 131\n"
    "n1   , erythrocebus_patas\t , patas_monkey                  , 139\n\n\n"
)


def test_class_id_folders_named_by_a_labels_file_and_validation_used_as_test(tmp_path: Path) -> None:
    """The 10 Monkey Species shape: n0..n9 folders, monkey_labels.txt, no test split."""
    (tmp_path / "monkey_labels.txt").write_text(MONKEY_LABELS)
    _touch(tmp_path, "training/training/n0/a.jpg", "training/training/n1/b.jpg",
           "training/training/n1/n1151jpg", "validation/validation/n0/c.jpg")
    layout = detect_layout(tmp_path)
    assert layout.class_names == {"n0": "mantled_howler", "n1": "patas_monkey"}
    assert layout.labels_file == tmp_path / "monkey_labels.txt"
    assert "validation/validation is used as test" in layout.notes[0]
    assert [e.relpath for e in find_images(tmp_path)] == [
        "train/mantled_howler/a.jpg", "train/patas_monkey/b.jpg", "train/patas_monkey/n1151jpg",
        "test/mantled_howler/c.jpg"]


def test_labels_file_that_does_not_cover_every_folder_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("id,name\nn0,howler\n")
    _touch(tmp_path, "train/n0/a.jpg", "train/n1/b.jpg")
    layout = detect_layout(tmp_path)
    assert layout.labels_file is None and layout.class_names == {"n0": "n0", "n1": "n1"}


SHARED = SHARED_DATASETS


@pytest.mark.skipif(not (SHARED / "cats_vs_dogs_small").is_dir(), reason="../shared/datasets absent")
def test_shared_cats_vs_dogs_small() -> None:
    root = SHARED / "cats_vs_dogs_small"
    counts = summarize(find_images(root))
    assert counts == {"test": {"cats": 200, "dogs": 200}, "train": {"cats": 500, "dogs": 500}}


@pytest.mark.skipif(not (SHARED / "monkey10").is_dir(), reason="../shared/datasets absent")
def test_shared_monkey10() -> None:
    root = SHARED / "monkey10"
    layout = detect_layout(root)
    entries = find_images(root, layout)
    counts = summarize(entries)
    assert len(layout.class_names) == 10 and layout.class_names["n9"] == "nilgiri_langur"
    assert sum(counts["train"].values()) == 1097 and sum(counts["test"].values()) == 272
    assert set(counts["train"]) == set(counts["test"]) == set(layout.class_names.values())
    names = {e.source.name for e in entries}
    assert {"n9160.png", "n9151jpg"} <= names  # the PNG and the file with no extension are kept


def test_flat_folders_with_the_class_in_file_names(tmp_path: Path) -> None:
    """dogs-vs-cats: train/cat.0.jpg, train/dog.0.jpg, and an unlabelled test1/ that is left out."""
    _touch(tmp_path, "train/cat.0.jpg", "train/cat.1.jpg", "train/dog.0.jpg", "train/Dog_12.png",
           "test1/1.jpg", "test1/2.jpg")
    (tmp_path / "sampleSubmission.csv").write_text("id,label\n1,0\n")
    layout = detect_layout(tmp_path)
    assert layout.flat_splits == {"train"} and set(layout.split_dirs) == {"train"}
    assert "test1: 2 files without classes in their names" in " ".join(layout.notes)
    assert [(e.split, e.label, e.source.name) for e in find_images(tmp_path, layout)] == [
        ("train", "cat", "cat.0.jpg"), ("train", "cat", "cat.1.jpg"),
        ("train", "dog", "Dog_12.png"), ("train", "dog", "dog.0.jpg")]
    assert layout.as_json(tmp_path)["labels_from_file_names"] == ["train"]


def test_flat_folder_without_splits(tmp_path: Path) -> None:
    _touch(tmp_path, "pets/cat.0.jpg", "pets/dog.0.jpg")
    layout = detect_layout(tmp_path / "pets")
    assert layout.flat_splits == {"train"}
    assert {e.label for e in find_images(tmp_path / "pets", layout)} == {"cat", "dog"}


def test_flat_folder_with_an_unlabelled_file_among_labelled_ones_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path, "train/cat.0.jpg", "train/dog.0.jpg", "train/photo.jpg")
    with pytest.raises(PipelineError, match="photo.jpg: no class in its name"):
        detect_layout(tmp_path)


def test_flat_folder_with_one_class_is_an_error(tmp_path: Path) -> None:
    _touch(tmp_path, "train/cat.0.jpg", "train/cat.1.jpg")
    with pytest.raises(PipelineError, match="needs two classes"):
        detect_layout(tmp_path)
