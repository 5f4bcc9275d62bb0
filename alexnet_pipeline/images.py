"""Turn any accepted image file into an upright RGB square of the network's input size."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

RESIZE_POLICIES = ("crop", "squash")


def load_rgb(path: Path | str | io.BytesIO) -> Image.Image:
    """Decode an image, apply its EXIF orientation and convert it to RGB (CMYK, L, P, RGBA...)."""
    with Image.open(path) as image:
        image.draft("RGB", (image.width, image.height))  # no-op except for JPEG
        upright = ImageOps.exif_transpose(image)
        if upright.mode.startswith("I;16"):  # 16-bit: scale 0..65535 to 0..255 (convert clips)
            upright = upright.convert("I").point(lambda v: v / 257)
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            background = Image.new("RGBA", upright.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, upright.convert("RGBA")).convert("RGB")
        return upright.convert("RGB")


def resize_square(image: Image.Image, size: int, policy: str) -> Image.Image:
    """Resize to `size` x `size`: `crop` scales the shorter side and centre-crops, `squash` stretches."""
    if policy == "squash":
        return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    if policy == "crop":
        return ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR, centering=(0.5, 0.5))
    raise ValueError(f"unknown resize policy {policy!r}; expected one of {RESIZE_POLICIES}")


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of `image`; the same image and quality always give the same bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def prepare_image(path: Path | str | io.BytesIO, size: int, policy: str) -> Image.Image:
    """The preprocessing every image gets before the network: upright RGB, resized square."""
    return resize_square(load_rgb(path), size, policy)
