"""safe_extract: good archives unpack; zip-slip, links, bombs and corrupt files are refused."""

from __future__ import annotations

import io
import random
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.archives import (
    ExtractionLimits,
    expand_inner_archives,
    is_archive,
    safe_extract,
)

LIMITS = ExtractionLimits(max_total_bytes=10_000_000, max_ratio=100)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            bundle.addfile(info)
    return path


def test_zip_unpacks_its_tree(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "data.zip", {"ds/train/cat/1.jpg": b"a" * 50, "ds/test/cat/2.jpg": b"b"})
    assert is_archive(archive)
    assert safe_extract(archive, tmp_path / "out", LIMITS) == 2
    assert (tmp_path / "out/ds/train/cat/1.jpg").read_bytes() == b"a" * 50


def test_tar_gz_unpacks_its_tree(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "data.tar.gz", {"train/cat/1.jpg": b"abc"})
    safe_extract(archive, tmp_path / "out", LIMITS)
    assert (tmp_path / "out/train/cat/1.jpg").read_bytes() == b"abc"


@pytest.mark.parametrize("name", ["../evil.txt", "ds/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt"])
def test_zip_slip_is_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "slip.zip", {"ok.txt": b"fine", name: b"evil"})
    with pytest.raises(PipelineError, match="zip-slip"):
        safe_extract(archive, tmp_path / "out", LIMITS)
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_tar_slip_and_links_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="zip-slip"):
        safe_extract(_tar(tmp_path / "a.tgz", {"../evil": b"x"}), tmp_path / "out1", LIMITS)
    with pytest.raises(PipelineError, match="a link"):
        safe_extract(_tar(tmp_path / "b.tgz", {"a": b"x"}, links={"escape": "/etc/passwd"}),
                     tmp_path / "out2", LIMITS)
    assert not (tmp_path / "out1").exists() and not (tmp_path / "out2").exists()


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        info = zipfile.ZipInfo("escape")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(info, "/etc/passwd")
    with pytest.raises(PipelineError, match="symbolic link"):
        safe_extract(archive, tmp_path / "out", LIMITS)


def test_zip_bomb_is_refused_before_writing(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(5_000_000)})  # ~5 KB compressed
    with pytest.raises(PipelineError, match="compression ratio .* zip bomb"):
        safe_extract(archive, tmp_path / "out", LIMITS)
    assert not (tmp_path / "out").exists()


def test_total_size_cap(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "big.zip", {"a.bin": bytes(2_000)})
    with pytest.raises(PipelineError, match=r"unpacks to 2,000 bytes, over the limit of 1,000 \(data.extract.max_total_gb\)"):
        safe_extract(archive, tmp_path / "out", ExtractionLimits(max_total_bytes=1_000, max_ratio=1e9))


def test_corrupt_archive_is_a_clear_error(tmp_path: Path) -> None:
    good = _zip(tmp_path / "good.zip", {"a.jpg": random.Random(0).randbytes(100_000)})
    data = bytearray(good.read_bytes())
    data[60:200] = bytes(140)  # damage the compressed stream, keep the central directory
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(PipelineError, match="corrupt or truncated archive"):
        safe_extract(corrupt, tmp_path / "out", LIMITS)
    assert not (tmp_path / "out").exists()


def test_non_archive_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip at all")
    assert not is_archive(tmp_path / "x.zip")
    with pytest.raises(PipelineError, match="not a readable zip or tar archive"):
        safe_extract(tmp_path / "x.zip", tmp_path / "out", LIMITS)


def test_inner_archives_are_unpacked_into_a_folder_of_their_name(tmp_path: Path) -> None:
    root = tmp_path / "unpacked"
    root.mkdir()
    _zip(root / "train.zip", {"train/cat.0.jpg": b"c", "train/dog.0.jpg": b"d"})
    (root / "extra").mkdir()
    _tar(root / "extra" / "test1.tar.gz", {"1.jpg": b"t"})
    (root / "notes.zip").write_bytes(b"not really a zip")
    assert expand_inner_archives(root, LIMITS) == ["extra/test1.tar.gz", "train.zip"]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "extra/test1/1.jpg", "notes.zip", "train/train/cat.0.jpg", "train/train/dog.0.jpg"]


def test_inner_zip_slip_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "unpacked"
    root.mkdir()
    _zip(root / "train.zip", {"../../escaped.txt": b"x"})
    with pytest.raises(PipelineError, match="zip-slip"):
        expand_inner_archives(root, LIMITS)
    assert not list(tmp_path.rglob("escaped.txt"))
