"""The image manifest: one row per dataset file, from fully decoding it with Pillow.

Columns: path (relative to the dataset root), split, label, format (detected from content, not
the extension), mode, width, height, bytes, sha256, ok, reason. A file that cannot be decoded
gets `ok=False` and a reason instead of raising, so one bad file never stops the scan.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from alexnet_pipeline.layout import ImageEntry

COLUMNS = ["path", "split", "label", "format", "mode", "width", "height", "bytes", "sha256", "ok",
           "reason"]


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row; `ok` is False with a `reason` when the file does not decode."""

    path: str
    split: str
    label: str
    format: str | None
    mode: str | None
    width: int | None
    height: int | None
    bytes: int
    sha256: str | None
    ok: bool
    reason: str


def _decode(data_path: Path) -> tuple[str, str, int, int]:
    """Fully decode an image (not just its header); return (format, mode, width, height)."""
    with warnings.catch_warnings():
        # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that: treat both as bombs.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(data_path) as image:
            image.load()
            return image.format or "UNKNOWN", image.mode, image.width, image.height


def inspect_file(entry: ImageEntry) -> ManifestRow:
    """Read, hash and decode one file into a manifest row."""
    try:
        content = entry.source.read_bytes()
    except OSError as exc:
        return ManifestRow(path=entry.relpath, split=entry.split, label=entry.label, bytes=0,
                           sha256=None, format=None, mode=None, width=None, height=None, ok=False,
                           reason=f"cannot read file: {exc.strerror or exc}")
    fields = {"path": entry.relpath, "split": entry.split, "label": entry.label,
              "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    if not content:
        return ManifestRow(**fields, format=None, mode=None, width=None, height=None, ok=False,
                           reason="empty file (0 bytes)")
    try:
        image_format, mode, width, height = _decode(entry.source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        reason = f"decompression bomb: {exc}"
    except UnidentifiedImageError:
        reason = "not an image: Pillow cannot identify its content"
    except (OSError, SyntaxError, ValueError) as exc:
        reason = f"corrupt or truncated image: {exc}"
    else:
        return ManifestRow(**fields, format=image_format, mode=mode, width=width, height=height,
                           ok=True, reason="")
    return ManifestRow(**fields, format=None, mode=None, width=None, height=None, ok=False,
                       reason=reason)


def build_manifest(entries: list[ImageEntry]) -> pd.DataFrame:
    """Inspect every entry; return the manifest as a DataFrame with nullable integer sizes."""
    frame = pd.DataFrame([asdict(inspect_file(entry)) for entry in entries], columns=COLUMNS)
    for column in ("width", "height", "bytes"):
        frame[column] = frame[column].astype("Int64")
    frame["ok"] = frame["ok"].astype(bool)
    return frame
