"""download: the sample generator or a local folder into paths.raw, whole or not at all."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from alexnet_pipeline.config import Params, load_params
from alexnet_pipeline.core.artifacts import LAYOUT_FILE, SPLITS_FILE
from alexnet_pipeline.errors import PipelineError
from stages import download as download_stage
from stages import preprocess as preprocess_stage
from stages import source as source_stage
from stages import validate as validate_stage
from stages.download import download
from tests.helpers import cat_and_dog_zip, tree_digests, write_image, write_params, zip_bytes
from tests.kaggle_stub import KaggleStub


def main(params: Params) -> None:
    """The source stage, then download, as `dvc repro download` runs them."""
    source_stage.main(params)
    download_stage.main(params)


TINY_SAMPLE = {"data__sample__train_per_class": 2, "data__sample__test_per_class": 1,
               "data__sample__min_side": 16, "data__sample__max_side": 24}


def test_sample_source_writes_the_sample_and_its_layout(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path, base__seed=3, **TINY_SAMPLE))
    main(params)
    raw = params.paths.raw
    layout = json.loads((raw / LAYOUT_FILE).read_text())
    classes = sorted(params.data.sample.classes)
    assert layout == {"source": "sample", "seed": 3, "classes": classes, "rejected": [],
                      "splits": {"test": {c: 1 for c in classes}, "train": {c: 2 for c in classes}}}
    assert len(list(raw.rglob("*.jpg"))) == 4 * 3
    assert sorted(p.name for p in raw.parent.iterdir()) == ["raw", "source.json"]  # no temporary left


def test_rerun_replaces_the_folder_with_identical_files(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path, **TINY_SAMPLE))
    main(params)
    before = tree_digests(params.paths.raw)
    (params.paths.raw / "train" / "stale.txt").write_text("left from an older run")
    main(params)
    assert tree_digests(params.paths.raw) == before


def test_local_source_copies_with_canonical_split_names(tmp_path: Path) -> None:
    source = tmp_path / "mine"
    write_image(source / "training/cat/1.jpg")
    write_image(source / "training/dog/1.png", fmt="PNG")
    write_image(source / "testing/cat/2.jpg", seed=2)
    (source / "training/cat/.DS_Store").write_bytes(b"junk")
    source_before = tree_digests(source)
    params = load_params(write_params(tmp_path / "project", data__source="local",
                                      data__local__path=str(source)))
    main(params)
    raw = params.paths.raw
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()) == [
        LAYOUT_FILE, "test/cat/2.jpg", "train/cat/1.jpg", "train/dog/1.png"]
    assert (raw / "train/cat/1.jpg").read_bytes() == (source / "training/cat/1.jpg").read_bytes()
    layout = json.loads((raw / LAYOUT_FILE).read_text())
    assert layout["source"] == "local" and layout["path"] == str(source.resolve())
    assert layout["classes"] == ["cat", "dog"]
    assert tree_digests(source) == source_before  # the source is never modified


def test_local_source_without_a_path_is_an_error(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path, data__source="local"))
    with pytest.raises(PipelineError, match="data.local.path"):
        download(params.data, 0, {}, tmp_path / "out")


def test_broken_local_source_leaves_no_raw_folder(tmp_path: Path) -> None:
    source = tmp_path / "mine"
    write_image(source / "train/cats/1.jpg")
    write_image(source / "extras/cats/1.jpg")  # a folder beside the splits that is not a split
    params = load_params(write_params(tmp_path / "project", data__source="local",
                                      data__local__path=str(source)))
    with pytest.raises(PipelineError, match="extras: not a split folder"):
        main(params)
    assert not params.paths.raw.exists()
    assert [p.name for p in params.paths.raw.parent.iterdir()] == ["source.json"]


def test_class_only_local_folder_gets_val_and_test_carved_downstream(tmp_path: Path) -> None:
    """No split folders: download keeps everything as train, preprocess carves val and test."""
    source = tmp_path / "photos"
    for label in ("red", "blue"):
        for index in range(10):
            write_image(source / "wrapper" / label / f"{index}.jpg", seed=index + 100 * len(label))
    (source / "wrapper" / "README.txt").write_text("my photos")
    params = load_params(write_params(tmp_path / "project", data__source="local",
                                      data__local__path=str(source), base__image_size=67))
    main(params)
    layout = json.loads((params.paths.raw / LAYOUT_FILE).read_text())
    assert layout["layout"]["shape"] == "classes" and layout["splits"] == {
        "train": {"blue": 10, "red": 10}}
    validate_stage.main(params)
    preprocess_stage.main(params)
    splits = json.loads((params.paths.processed / SPLITS_FILE).read_text())
    assert sorted(splits) == ["test", "train", "val"]
    for label in ("red", "blue"):  # each class split by hash: about 65/15/20, at least one each
        assert sum(splits[split][label] for split in splits) == 10
        assert min(splits[split][label] for split in splits) >= 1


def _zip_tree(archive: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return archive


def test_local_zip_is_extracted_safely_and_laid_out(tmp_path: Path) -> None:
    image = write_image(tmp_path / "img.jpg").read_bytes()
    archive = _zip_tree(tmp_path / "cat-and-dog.zip", {
        "training_set/training_set/cats/cat.1.jpg": image,
        "training_set/training_set/dogs/dog.1.jpg": image,
        "test_set/test_set/cats/cat.2.jpg": image,
        "__MACOSX/training_set/._cat.1.jpg": b"junk",
    })
    params = load_params(write_params(tmp_path / "project", data__source="local",
                                      data__local__path=str(archive)))
    main(params)
    assert sorted(str(p.relative_to(params.paths.raw)) for p in params.paths.raw.rglob("*.jpg")) == [
        "test/cats/cat.2.jpg", "train/cats/cat.1.jpg", "train/dogs/dog.1.jpg"]
    layout = json.loads((params.paths.raw / LAYOUT_FILE).read_text())["layout"]
    assert layout["split_folders"] == {"test": "test_set/test_set", "train": "training_set/training_set"}
    assert sorted(p.name for p in params.paths.raw.parent.iterdir()) == ["raw", "source.json"]  # no scratch
    assert archive.exists()  # the source is never modified


def test_local_zip_slip_leaves_nothing(tmp_path: Path) -> None:
    archive = _zip_tree(tmp_path / "evil.zip", {"train/cat/1.jpg": b"x", "../../escaped.txt": b"x"})
    params = load_params(write_params(tmp_path / "project", data__source="local",
                                      data__local__path=str(archive)))
    with pytest.raises(PipelineError, match="zip-slip"):
        main(params)
    assert not params.paths.raw.exists()
    assert [p.name for p in params.paths.raw.parent.iterdir()] == ["source.json"]
    assert not list(tmp_path.rglob("escaped.txt"))


def test_local_file_that_is_not_an_archive_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "photos.rar").write_bytes(b"Rar!\x1a\x07\x00 not supported")
    params = load_params(write_params(tmp_path / "project", data__source="local",
                                      data__local__path=str(tmp_path / "photos.rar")))
    with pytest.raises(PipelineError, match="photos.rar: not a dataset folder nor a .zip/.tar archive"):
        main(params)
    assert not params.paths.raw.exists()


KAGGLE = "tester/cat-and-dog"


def kaggle_params(tmp_path: Path, **overrides: object) -> Params:
    return load_params(write_params(
        tmp_path / "project", data__source="kaggle", data__kaggle__dataset=KAGGLE,
        data__kaggle__cache_dir=str(tmp_path / "cache"), data__kaggle__backoff_s=0.0, **overrides))


def cached(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())


def test_kaggle_dataset_is_downloaded_unpacked_and_laid_out(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[KAGGLE] = {2: cat_and_dog_zip(per_class=2)}
    params = kaggle_params(tmp_path)
    main(params)
    raw = params.paths.raw
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.jpg")) == [
        "test/cats/cat.0.jpg", "test/cats/cat.1.jpg", "test/dogs/dog.0.jpg", "test/dogs/dog.1.jpg",
        "train/cats/cat.0.jpg", "train/cats/cat.1.jpg", "train/dogs/dog.0.jpg", "train/dogs/dog.1.jpg"]
    layout = json.loads((raw / LAYOUT_FILE).read_text())
    assert layout["source"] == "kaggle" and layout["dataset"] == KAGGLE and layout["version"] == 2
    assert layout["layout"]["split_folders"] == {"test": "test_set/test_set", "train": "training_set/training_set"}
    assert layout["splits"] == {"test": {"cats": 2, "dogs": 2}, "train": {"cats": 2, "dogs": 2}}
    assert cached(tmp_path) == ["2.archive"]
    assert sorted(p.name for p in raw.parent.iterdir()) == ["raw", "source.json"]  # no scratch left


def test_kaggle_rerun_of_the_same_version_uses_the_cache_and_gives_the_same_files(
        tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[KAGGLE] = {1: cat_and_dog_zip(per_class=2)}
    params = kaggle_params(tmp_path)
    main(params)
    before, gets = tree_digests(params.paths.raw), len(kaggle_stub.blob_gets())
    main(params)
    assert tree_digests(params.paths.raw) == before
    assert len(kaggle_stub.blob_gets()) == gets


def _assert_refused_and_clean(tmp_path: Path, params: Params, match: str) -> None:
    with pytest.raises(PipelineError, match=match):
        main(params)
    assert not params.paths.raw.exists()
    assert [p.name for p in params.paths.raw.parent.iterdir()] == ["source.json"]  # no scratch
    assert cached(tmp_path) == []  # the unusable archive is not kept
    assert not list(tmp_path.rglob("escaped.txt"))


@pytest.mark.parametrize("damage", ["middle", "end"])
def test_kaggle_corrupt_archive_is_a_clear_error(tmp_path: Path, kaggle_stub: KaggleStub, damage: str) -> None:
    good = cat_and_dog_zip(per_class=2)
    start = len(good) // 2 if damage == "middle" else len(good) - 200  # file data, or the directory
    kaggle_stub.datasets[KAGGLE] = {1: good[:start] + b"\0" * 200 + good[start + 200:]}
    _assert_refused_and_clean(tmp_path, kaggle_params(tmp_path), "corrupt or truncated")


def test_kaggle_zip_slip_archive_is_refused(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[KAGGLE] = {1: zip_bytes({"train/cats/1.jpg": b"x", "../../escaped.txt": b"x"})}
    _assert_refused_and_clean(tmp_path, kaggle_params(tmp_path), "zip-slip")


def test_kaggle_zip_bomb_is_refused(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[KAGGLE] = {1: zip_bytes({"train/cats/bomb.jpg": b"\0" * 20_000_000})}
    _assert_refused_and_clean(tmp_path, kaggle_params(tmp_path), "zip bomb")


def test_kaggle_source_record_from_another_source_is_refused(tmp_path: Path) -> None:
    params = kaggle_params(tmp_path)
    with pytest.raises(PipelineError, match="not kaggle; run `dvc repro`"):
        download(params.data, 0, {"source": "sample"}, tmp_path / "out")


def test_kaggle_competition_with_inner_archives_and_labels_in_file_names(
        tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    """The shape of dogs-vs-cats: train.zip of train/cat.N.jpg and test1.zip of unlabelled files."""
    train = {f"train/{label}.{index}.jpg": write_image(tmp_path / "img" / f"{label}{index}.jpg",
                                                       seed=index + 10 * len(label)).read_bytes()
             for label in ("cat", "dog") for index in range(3)}
    kaggle_stub.competitions["dogs-vs-cats"] = zip_bytes({
        "train.zip": zip_bytes(train), "test1.zip": zip_bytes({"test1/1.jpg": train["train/cat.0.jpg"]}),
        "sampleSubmission.csv": b"id,label\n1,0\n"})
    kaggle_stub.rules_accepted.add("dogs-vs-cats")
    params = kaggle_params(tmp_path, data__kaggle__competition="dogs-vs-cats")
    main(params)
    raw = params.paths.raw
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.jpg")) == [
        f"train/{label}/{label}.{index}.jpg" for label in ("cat", "dog") for index in range(3)]
    layout = json.loads((raw / LAYOUT_FILE).read_text())
    assert layout["competition"] == "dogs-vs-cats" and layout["splits"] == {"train": {"cat": 3, "dog": 3}}
    assert layout["layout"]["labels_from_file_names"] == ["train"]
    assert any("test1" in note and "left out" in note for note in layout["layout"]["notes"])


def test_symlink_leading_out_of_a_local_source_is_not_copied_but_listed(tmp_path: Path) -> None:
    source = tmp_path / "mine"
    write_image(source / "train/cat/1.jpg")
    write_image(source / "train/dog/1.jpg")
    secret = write_image(tmp_path / "private" / "secret.jpg")
    (source / "train/dog/2.jpg").symlink_to(secret)
    (source / "train/cat/same.jpg").symlink_to(source / "train/cat/1.jpg")  # inside: copied
    params = load_params(write_params(tmp_path / "project", data__source="local",
                                      data__local__path=str(source)))
    main(params)
    raw = params.paths.raw
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.jpg")) == [
        "train/cat/1.jpg", "train/cat/same.jpg", "train/dog/1.jpg"]
    layout = json.loads((raw / LAYOUT_FILE).read_text())
    assert layout["rejected"] == [{"path": "train/dog/2.jpg", "split": "train", "label": "dog",
                                   "reason": f"symbolic link to {secret.resolve()}, outside the "
                                             "dataset: not read"}]
