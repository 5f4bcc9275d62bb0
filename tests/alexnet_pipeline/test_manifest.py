"""The manifest fully decodes every file: bad files get ok=False and a reason, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from alexnet_pipeline.layout import ImageEntry, find_images
from alexnet_pipeline.manifest import COLUMNS, build_manifest, inspect_file
from tests.helpers import sha256_of, write_image, write_truncated_jpeg


def _entry(path: Path, split: str = "train", label: str = "cat") -> ImageEntry:
    return ImageEntry(path, split, label)


def test_valid_jpeg_row(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.jpg", size=(48, 36))
    row = inspect_file(_entry(path))
    assert row.ok and row.reason == ""
    assert (row.format, row.mode, row.width, row.height) == ("JPEG", "RGB", 48, 36)
    assert row.bytes == path.stat().st_size
    assert row.sha256 == sha256_of(path)
    assert row.path == "train/cat/a.jpg" and row.split == "train" and row.label == "cat"


def test_format_comes_from_content_not_extension(tmp_path: Path) -> None:
    path = write_image(tmp_path / "really_a_png.jpg", fmt="PNG", mode="RGBA")
    row = inspect_file(_entry(path))
    assert row.ok and row.format == "PNG" and row.mode == "RGBA"


def test_truncated_jpeg_is_invalid(tmp_path: Path) -> None:
    row = inspect_file(_entry(write_truncated_jpeg(tmp_path / "cut.jpg")))
    assert not row.ok
    assert row.reason.startswith("corrupt or truncated image")
    assert row.width is None and row.format is None
    assert row.bytes > 0


def test_zero_byte_file_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    row = inspect_file(_entry(path))
    assert not row.ok and row.reason == "empty file (0 bytes)" and row.bytes == 0
    assert row.sha256 == sha256_of(path)  # still hashed: the hash of no bytes


def test_text_file_named_jpg_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    row = inspect_file(_entry(path))
    assert not row.ok and row.reason == "not an image: Pillow cannot identify its content"


def test_decompression_bomb_is_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_image(tmp_path / "big.png", size=(40, 40), fmt="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: warning zone -> invalid
    row = inspect_file(_entry(path))
    assert not row.ok and row.reason.startswith("decompression bomb")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # past twice the limit: Pillow raises
    row = inspect_file(_entry(path))
    assert not row.ok and row.reason.startswith("decompression bomb")


def test_build_manifest_keeps_scanning_past_bad_files(tmp_path: Path) -> None:
    write_image(tmp_path / "train/cat/good.jpg", size=(40, 30))
    write_image(tmp_path / "train/cat/anim.gif", size=(33, 34), fmt="GIF")
    write_truncated_jpeg(tmp_path / "train/dog/cut.jpg")
    (tmp_path / "test/dog").mkdir(parents=True)
    (tmp_path / "test/dog/zero.jpg").write_bytes(b"")
    frame = build_manifest(find_images(tmp_path))
    assert list(frame.columns) == COLUMNS
    assert list(frame["path"]) == ["train/cat/anim.gif", "train/cat/good.jpg", "train/dog/cut.jpg",
                                   "test/dog/zero.jpg"]
    assert list(frame["ok"]) == [True, True, False, False]
    assert frame["ok"].dtype == bool
    assert str(frame["width"].dtype) == "Int64" and str(frame["height"].dtype) == "Int64"
    good = frame.set_index("path").loc["train/cat/good.jpg"]
    assert (good["width"], good["height"], good["format"]) == (40, 30, "JPEG")
    assert frame.set_index("path").loc["train/cat/anim.gif", "format"] == "GIF"
    assert frame["width"].isna().sum() == 2  # the two undecodable files have no size
