"""The manifest fully decodes every file: bad files get ok=False and a reason, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from alexnet_pipeline.sources.layout import ImageEntry, find_images
from alexnet_pipeline.validation.manifest import COLUMNS, build_manifest, inspect_file, rejected_row
from tests.helpers import sha256_of, write_image, write_png_bomb, write_truncated_jpeg


def _entry(path: Path, split: str = "train", label: str = "cat") -> ImageEntry:
    return ImageEntry(path, split, label)


def test_valid_jpeg_row(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.jpg", size=(48, 36))
    row = inspect_file(_entry(path), tmp_path.resolve())
    assert row.ok and row.reason == ""
    assert (row.format, row.mode, row.width, row.height) == ("JPEG", "RGB", 48, 36)
    assert row.bytes == path.stat().st_size
    assert row.sha256 == sha256_of(path)
    assert row.path == "train/cat/a.jpg" and row.split == "train" and row.label == "cat"


def test_format_comes_from_content_not_extension(tmp_path: Path) -> None:
    path = write_image(tmp_path / "really_a_png.jpg", fmt="PNG", mode="RGBA")
    row = inspect_file(_entry(path), tmp_path.resolve())
    assert row.ok and row.format == "PNG" and row.mode == "RGBA"


def test_truncated_jpeg_is_invalid(tmp_path: Path) -> None:
    row = inspect_file(_entry(write_truncated_jpeg(tmp_path / "cut.jpg")), tmp_path.resolve())
    assert not row.ok
    assert row.reason.startswith("corrupt or truncated image")
    assert row.width is None and row.format is None
    assert row.bytes > 0


def test_zero_byte_file_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    row = inspect_file(_entry(path), tmp_path.resolve())
    assert not row.ok and row.reason == "empty file (0 bytes)" and row.bytes == 0
    assert row.sha256 == sha256_of(path)  # still hashed: the hash of no bytes


def test_text_file_named_jpg_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    row = inspect_file(_entry(path), tmp_path.resolve())
    assert not row.ok and row.reason == "not an image: Pillow cannot identify its content"


def test_decompression_bomb_is_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_image(tmp_path / "big.png", size=(40, 40), fmt="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: warning zone -> invalid
    row = inspect_file(_entry(path), tmp_path.resolve())
    assert not row.ok and row.reason.startswith("decompression bomb")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # past twice the limit: Pillow raises
    row = inspect_file(_entry(path), tmp_path.resolve())
    assert not row.ok and row.reason.startswith("decompression bomb")


def test_build_manifest_keeps_scanning_past_bad_files(tmp_path: Path) -> None:
    write_image(tmp_path / "train/cat/good.jpg", size=(40, 30))
    write_image(tmp_path / "train/cat/anim.gif", size=(33, 34), fmt="GIF")
    write_truncated_jpeg(tmp_path / "train/dog/cut.jpg")
    (tmp_path / "test/dog").mkdir(parents=True)
    (tmp_path / "test/dog/zero.jpg").write_bytes(b"")
    frame = build_manifest(find_images(tmp_path), tmp_path)
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


def test_real_png_bomb_is_rejected_without_decoding(tmp_path: Path) -> None:
    """20000x20000 pixels in a 50 KB file: Pillow refuses it from the header alone."""
    path = write_png_bomb(tmp_path / "bomb.png")
    assert path.stat().st_size < 200_000
    row = inspect_file(_entry(path), tmp_path.resolve())
    assert not row.ok and row.reason.startswith("decompression bomb")


def test_exif_orientation_is_recorded(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(tmp_path / "rotated.jpg", exif=exif)
    write_image(tmp_path / "plain.jpg")
    assert inspect_file(_entry(tmp_path / "rotated.jpg"), tmp_path.resolve()).exif_orientation == 6
    assert inspect_file(_entry(tmp_path / "plain.jpg"), tmp_path.resolve()).exif_orientation == 1


def test_symlink_out_of_the_dataset_is_rejected_unread(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere" / "secret.jpg"
    write_image(secret)
    dataset = tmp_path / "dataset"
    (dataset / "train/cat").mkdir(parents=True)
    (dataset / "train/cat/link.jpg").symlink_to(secret)
    write_image(dataset / "train/cat/real.jpg")
    (dataset / "train/cat/inner.jpg").symlink_to(dataset / "train/cat/real.jpg")
    secret.chmod(0)  # reading it would fail: the reason proves it was never opened
    rows = {row.path: row for row in (inspect_file(entry, dataset.resolve())
                                      for entry in find_images(dataset))}
    link = rows["train/cat/link.jpg"]
    assert not link.ok and link.sha256 is None and link.bytes == 0
    assert link.reason == f"symbolic link to {secret.resolve()}, outside the dataset: not read"
    assert rows["train/cat/inner.jpg"].ok  # a link that stays inside is fine


def test_parallel_manifest_equals_the_serial_one(tmp_path: Path) -> None:
    for index in range(40):
        write_image(tmp_path / f"train/c{index % 2}/{index}.jpg", seed=index)
    write_truncated_jpeg(tmp_path / "train/c0/cut.jpg")
    entries = find_images(tmp_path)
    serial = build_manifest(entries, tmp_path, workers=1)
    parallel = build_manifest(entries, tmp_path, workers=2)
    assert serial.equals(parallel) and len(serial) == 41


def test_rejected_rows_join_the_manifest_in_split_order(tmp_path: Path) -> None:
    write_image(tmp_path / "train/cat/a.jpg")
    write_image(tmp_path / "test/cat/b.jpg")
    rejected = [rejected_row("train/cat/link.jpg", "train", "cat", "symbolic link to /x")]
    frame = build_manifest(find_images(tmp_path), tmp_path, rejected=rejected)
    assert list(frame["path"]) == ["train/cat/a.jpg", "train/cat/link.jpg", "test/cat/b.jpg"]
    assert list(frame["ok"]) == [True, False, True]
