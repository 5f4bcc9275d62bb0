"""The image manifest: one row per dataset file, from fully decoding it with Pillow.

Columns: path (relative to the dataset root), split, label, format (detected from content, not
the extension), mode, width, height, exif_orientation, brightness (mean luminance, 0-255: data
drift compares its distribution across dataset versions), bytes, sha256, ok, reason. A file that
cannot be decoded gets `ok=False` and a reason instead of raising, so one bad file never stops
the scan. A symbolic link that resolves outside the dataset is rejected without being read.
Files are decoded in parallel worker processes, with a progress bar on a terminal.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, ImageStat, UnidentifiedImageError
from tqdm import tqdm

from alexnet_pipeline.core.workers import process_pool
from alexnet_pipeline.sources.layout import SPLITS, ImageEntry, escaping_link

COLUMNS = ["path", "split", "label", "format", "mode", "width", "height", "exif_orientation",
           "brightness", "bytes", "sha256", "ok", "reason"]
EXIF_ORIENTATION_TAG = 0x0112
FILES_PER_TASK = 16
BRIGHTNESS_SIDE = 64  # brightness is measured on a copy reduced to about this side: fast, and as exact as needed


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row; `ok` is False with a `reason` when the file does not decode."""

    path: str
    split: str
    label: str
    format: str | None = None
    mode: str | None = None
    width: int | None = None
    height: int | None = None
    exif_orientation: int | None = None
    brightness: float | None = None
    bytes: int = 0
    sha256: str | None = None
    ok: bool = False
    reason: str = ""


def rejected_row(path: str, split: str, label: str, reason: str) -> ManifestRow:
    """A row for a file that is refused without being read (download lists these)."""
    return ManifestRow(path=path, split=split, label=label, reason=reason)


def brightness(image: Image.Image) -> float | None:
    """Mean luminance (0-255) of a decoded image, on a copy reduced to about BRIGHTNESS_SIDE
    pixels; None for a mode Pillow cannot turn into luminance (the image itself is fine)."""
    factor = max(1, min(image.width, image.height) // BRIGHTNESS_SIDE)
    try:
        luminance = image.convert("L") if image.mode not in ("L", "RGB", "RGBA") else image
        if factor > 1:
            luminance = luminance.reduce(factor)
        return round(float(ImageStat.Stat(luminance.convert("L")).mean[0]), 3)
    except (ValueError, OSError):
        return None


def _decode(content: bytes) -> tuple[str, str, int, int, int, float]:
    """Fully decode an image (not just its header); return format, mode, size, EXIF orientation
    and brightness."""
    with warnings.catch_warnings():
        # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that: treat both as bombs.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(content)) as image:
            orientation = int(image.getexif().get(EXIF_ORIENTATION_TAG, 1) or 1)
            image.load()
            return (image.format or "UNKNOWN", image.mode, image.width, image.height, orientation,
                    brightness(image))


def inspect_file(entry: ImageEntry, root: Path) -> ManifestRow:
    """Read, hash and decode one file of the dataset at `root` (resolved) into a manifest row."""
    where = {"path": entry.relpath, "split": entry.split, "label": entry.label}
    if (escape := escaping_link(entry.source, root)) is not None:
        return ManifestRow(**where, reason=escape)
    try:
        content = entry.source.read_bytes()
    except OSError as exc:
        return ManifestRow(**where, reason=f"cannot read file: {exc.strerror or exc}")
    read = {**where, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    if not content:
        return ManifestRow(**read, reason="empty file (0 bytes)")
    try:
        image_format, mode, width, height, orientation, luminance = _decode(content)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        reason = f"decompression bomb: {exc}"
    except UnidentifiedImageError:
        reason = "not an image: Pillow cannot identify its content"
    except (OSError, SyntaxError, ValueError) as exc:
        reason = f"corrupt or truncated image: {exc}"
    else:
        return ManifestRow(**read, format=image_format, mode=mode, width=width, height=height,
                           exif_orientation=orientation, brightness=luminance, ok=True)
    return ManifestRow(**read, reason=reason)


def _inspect_all(entries: list[ImageEntry], root: Path) -> list[ManifestRow]:
    return [inspect_file(entry, root) for entry in entries]


def inspect_files(entries: list[ImageEntry], root: Path, workers: int = 1) -> list[ManifestRow]:
    """Inspect every entry, in `workers` processes when more than one; rows keep entry order."""
    root = root.resolve()
    chunks = [entries[i:i + FILES_PER_TASK] for i in range(0, len(entries), FILES_PER_TASK)]
    rows: list[ManifestRow] = []
    with tqdm(total=len(entries), desc="validate", unit="img", disable=None) as progress:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                rows.extend(_inspect_all(chunk, root))
                progress.update(len(chunk))
            return rows
        with process_pool(workers, preload=[__name__]) as pool:
            for chunk_rows in pool.map(_inspect_all, chunks, [root] * len(chunks)):
                rows.extend(chunk_rows)
                progress.update(len(chunk_rows))
    return rows


def manifest_frame(rows: list[ManifestRow]) -> pd.DataFrame:
    """The manifest DataFrame of `rows`, with nullable integer sizes."""
    frame = pd.DataFrame([asdict(row) for row in rows], columns=COLUMNS)
    for column in ("width", "height", "exif_orientation", "bytes"):
        frame[column] = frame[column].astype("Int64")
    frame["ok"] = frame["ok"].astype(bool)
    return frame


def build_manifest(entries: list[ImageEntry], root: Path, workers: int = 1,
                   rejected: list[ManifestRow] | None = None) -> pd.DataFrame:
    """The manifest of the dataset at `root`: every entry inspected, plus rows for files that
    were `rejected` unread, in split order, then by path."""
    rows = inspect_files(entries, root, workers) + list(rejected or [])
    order = {split: index for index, split in enumerate(SPLITS)}
    return manifest_frame(sorted(rows, key=lambda row: (order.get(row.split, len(order)), row.path)))
