"""Safe extraction of dataset archives (zip, tar, tar.gz/bz2/xz).

A downloaded or user-given archive is untrusted: members with absolute paths, `..` or links
leaving the target are refused, and the total size and compression ratio are capped before
anything is written (zip bombs), then enforced again while writing (sizes in headers can lie).
A corrupt archive is a clear error, never a half-extracted folder.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from alexnet_pipeline.errors import PipelineError

CHUNK = 1 << 20
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")


@dataclass(frozen=True)
class ExtractionLimits:
    """Caps on what an archive may unpack to."""

    max_total_bytes: int
    max_ratio: float  # unpacked bytes / archive bytes


def is_archive(path: Path) -> bool:
    """True for a zip or tar file (judged by content, not by name)."""
    return path.is_file() and (zipfile.is_zipfile(path) or tarfile.is_tarfile(path))


def _check_member_name(archive: Path, name: str) -> PurePosixPath:
    """The member's relative path; refuse absolute paths, drive letters and `..`."""
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or ".." in member.parts or (member.parts and ":" in member.parts[0]):
        raise PipelineError(f"{archive}: refusing member {name!r}: its path leaves the extraction "
                            "folder (a zip-slip archive); the archive is not safe to use")
    return member


def _check_totals(archive: Path, declared: int, limits: ExtractionLimits) -> None:
    if declared > limits.max_total_bytes:
        raise PipelineError(f"{archive}: unpacks to {declared:,} bytes, over the limit of "
                            f"{limits.max_total_bytes:,} (data.extract.max_total_gb)")
    ratio = declared / max(archive.stat().st_size, 1)
    if ratio > limits.max_ratio:
        raise PipelineError(f"{archive}: compression ratio {ratio:,.0f}x is over the limit of "
                            f"{limits.max_ratio:,.0f}x (data.extract.max_ratio): a zip bomb?")


class _Budget:
    """Counts bytes actually written; stops once they exceed the declared-and-allowed total."""

    def __init__(self, archive: Path, allowed: int) -> None:
        self.archive, self.allowed, self.written = archive, allowed, 0

    def add(self, count: int) -> None:
        self.written += count
        if self.written > self.allowed:
            raise PipelineError(f"{self.archive}: unpacks to more than its headers declare "
                                f"(over {self.allowed:,} bytes); the archive is not safe to use")


def _progress(archive: Path, total: int) -> tqdm:
    """A progress bar in bytes, shown on a terminal only (not in logs or CI)."""
    return tqdm(total=total, desc=f"extract {archive.name}", unit="B", unit_scale=True,
                unit_divisor=1024, disable=None)


def _extract_zip(archive: Path, target: Path, limits: ExtractionLimits) -> int:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        for info in members:
            _check_member_name(archive, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise PipelineError(f"{archive}: refusing member {info.filename!r}: a symbolic link")
        declared = sum(info.file_size for info in members)
        _check_totals(archive, declared, limits)
        budget = _Budget(archive, min(declared, limits.max_total_bytes))
        progress = _progress(archive, declared)
        for info in members:
            destination = target / _check_member_name(archive, info.filename)
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, destination.open("wb") as sink:
                while chunk := source.read(CHUNK):
                    budget.add(len(chunk))
                    sink.write(chunk)
                    progress.update(len(chunk))
        progress.close()
        return len(members)


def _extract_tar(archive: Path, target: Path, limits: ExtractionLimits) -> int:
    with tarfile.open(archive) as bundle:
        members = bundle.getmembers()
        for member in members:
            _check_member_name(archive, member.name)
            if member.issym() or member.islnk():
                raise PipelineError(f"{archive}: refusing member {member.name!r}: a link")
            if not (member.isfile() or member.isdir()):
                raise PipelineError(f"{archive}: refusing member {member.name!r}: not a file or folder")
        declared = sum(m.size for m in members)
        _check_totals(archive, declared, limits)
        progress = _progress(archive, declared)
        for member in members:
            # The "data" filter refuses anything unsafe that slipped past the checks above.
            bundle.extract(member, target, filter="data")
            progress.update(member.size)
        progress.close()
        return len(members)


def safe_extract(archive: Path, target: Path, limits: ExtractionLimits) -> int:
    """Extract `archive` into the new folder `target`; return the member count.

    On any error `target` is removed, so nothing half-extracted is left behind.
    """
    target.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, target, limits)
        if tarfile.is_tarfile(archive):
            return _extract_tar(archive, target, limits)
        raise PipelineError(f"{archive}: not a readable zip or tar archive (corrupt or truncated?)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise PipelineError(f"{archive}: corrupt or truncated archive ({exc}); download it again") from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _archive_stem(path: Path) -> str | None:
    name = path.name.lower()
    suffix = next((s for s in ARCHIVE_SUFFIXES if name.endswith(s)), None)
    return path.name[: -len(suffix)] if suffix else None


def expand_inner_archives(root: Path, limits: ExtractionLimits) -> list[str]:
    """Unpack archives found inside an unpacked dataset (a competition's `train.zip`) into a
    folder of the same name (`train/`), one level deep and under the same limits; return what was
    unpacked, relative to `root`. The inner archive is removed: `root` is scratch space."""
    expanded = []
    for inner in sorted(p for p in root.rglob("*") if p.is_file()):
        stem = _archive_stem(inner)
        if not stem or inner.name.startswith(".") or "__MACOSX" in inner.parts or not is_archive(inner):
            continue
        target = inner.with_name(stem)
        if target.exists():
            continue
        safe_extract(inner, target, limits)
        inner.unlink()
        expanded.append(str(inner.relative_to(root)))
    return expanded
