"""Atomic writes: a finished output replaces the old one whole; a failure leaves the old one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alexnet_pipeline.core.atomic import atomic_path, write_json, write_text, write_with


class Boom(RuntimeError):
    pass


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_json_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    target.write_text("old")
    write_json(target, {"accuracy": 0.5, "classes": ["a", "b"]})
    assert json.loads(target.read_text()) == {"accuracy": 0.5, "classes": ["a", "b"]}
    assert target.read_text().endswith("\n")
    assert _names(tmp_path) == ["metrics.json"]  # no temporary file left


def test_write_json_creates_missing_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "deep" / "validation.json"
    write_json(target, [1, 2])
    assert json.loads(target.read_text()) == [1, 2]


def test_write_json_of_unserializable_data_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    target.write_text('{"old": true}')
    with pytest.raises(TypeError):
        write_json(target, {"bad": object()})
    assert target.read_text() == '{"old": true}'
    assert _names(tmp_path) == ["metrics.json"]


def test_failed_block_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    target.write_bytes(b"old model")
    with pytest.raises(Boom), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target and tmp.suffix == ".keras"
        tmp.write_bytes(b"half a new mod")
        raise Boom()
    assert target.read_bytes() == b"old model"
    assert _names(tmp_path) == ["model.keras"]


def test_failed_block_leaves_the_old_folder_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "processed"
    target.mkdir()
    (target / "train-00000-of-00001.tfrecord").write_bytes(b"old shard")
    with pytest.raises(Boom), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "train-00000-of-00002.tfrecord").write_bytes(b"new")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x").write_bytes(b"new")
        raise Boom()
    assert _names(target) == ["train-00000-of-00001.tfrecord"]
    assert (target / "train-00000-of-00001.tfrecord").read_bytes() == b"old shard"
    assert _names(tmp_path) == ["processed"]


def test_successful_block_replaces_a_folder_whole(tmp_path: Path) -> None:
    target = tmp_path / "validated"
    target.mkdir()
    (target / "stale.csv").write_text("stale")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "manifest.csv").write_text("path\n")
        assert not (target / "manifest.csv").exists()  # nothing visible before the block ends
    assert _names(target) == ["manifest.csv"]  # the stale file went with the old folder
    assert _names(tmp_path) == ["validated"]


def test_nothing_is_written_where_no_file_existed_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_path(tmp_path / "report.html") as tmp:
        tmp.write_text("<html>")
        raise Boom()
    assert _names(tmp_path) == []


def test_write_text_and_write_with(tmp_path: Path) -> None:
    write_text(tmp_path / "a.txt", "héllo")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    write_with(tmp_path / "b.bin", lambda path: path.write_bytes(b"\x00\x01"))
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_write_with_a_failing_writer_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")

    def writer(path: Path) -> None:
        path.write_bytes(b"partial")
        raise Boom()

    with pytest.raises(Boom):
        write_with(target, writer)
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["model.keras"]
