"""Turn any accepted image file into an upright RGB square for the shards.

Resize policies (`preprocess.resize`): `paper` scales the shorter side to 256/227 of the input
size and centre-crops that square (the reader then takes random input-size crops for training
and the centre crop for evaluation, as in the paper); `crop` does the same straight to the
input size; `squash` stretches to a square; `pad` fits the longer side and pads with black.
Large JPEGs are decoded at a reduced DCT scale (`draft`) when that still leaves enough pixels.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageOps

RESIZE_POLICIES = ("paper", "crop", "squash", "pad")
PAPER_MARGIN = 256 / 227  # the paper stores 256x256 and crops 227x227


def stored_size(policy: str, image_size: int) -> int:
    """The side of the square kept in the shards: larger than the input only for `paper`."""
    return round(image_size * PAPER_MARGIN) if policy == "paper" else image_size


def _draft_request(width: int, height: int, size: int, policy: str) -> tuple[int, int]:
    """The smallest decoded size from which `policy` can still make a `size` square."""
    if policy == "squash":
        return size, size
    side = max(width, height) if policy == "pad" else min(width, height)
    return math.ceil(width * size / side), math.ceil(height * size / side)


def load_rgb(path: Path | str | io.BytesIO, draft: tuple[int, str] | None = None) -> Image.Image:
    """Decode an image, apply its EXIF orientation and convert it to RGB (CMYK, L, P, RGBA...).

    `draft=(size, policy)` lets a JPEG decode at a reduced scale that still covers `size`."""
    with Image.open(path) as image:
        if draft is not None:
            image.draft("RGB", _draft_request(image.width, image.height, *draft))  # JPEG only
        upright = ImageOps.exif_transpose(image)
        if upright.mode.startswith("I;16"):  # 16-bit: scale 0..65535 to 0..255 (convert clips)
            upright = upright.convert("I").point(lambda v: v / 257)
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            background = Image.new("RGBA", upright.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, upright.convert("RGBA")).convert("RGB")
        return upright.convert("RGB")


def resize_square(image: Image.Image, size: int, policy: str) -> Image.Image:
    """A `size` x `size` square of `image` by `policy` (`paper` and `crop` both centre-crop)."""
    if policy == "squash":
        return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    if policy in ("paper", "crop"):
        return ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR, centering=(0.5, 0.5))
    if policy == "pad":
        return ImageOps.pad(image, (size, size), Image.Resampling.BILINEAR, color=(0, 0, 0))
    raise ValueError(f"unknown resize policy {policy!r}; expected one of {RESIZE_POLICIES}")


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of `image`; the same image and quality always give the same bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def prepare_image(path: Path | str | io.BytesIO, image_size: int, policy: str) -> Image.Image:
    """The preprocessing every image gets before the shards: upright RGB, resized to the stored
    square of `policy` (see `stored_size`)."""
    size = stored_size(policy, image_size)
    return resize_square(load_rgb(path, draft=(size, policy)), size, policy)
