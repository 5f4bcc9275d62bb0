"""Deterministic generator of the built-in sample: synthetic, photo-like texture images.

Each class is a texture (stripes, checks, dots, rings). An image shows 1-2 objects of random
shape (circle, square, triangle, star), each filled with its class's texture at a random period,
orientation, scale and position, in a random pair of colours of clearly different brightness
(which one is darker is a coin flip), over a cluttered gradient background with noise, on
canvases of varied size. Colours are random for every class, so neither mean colour nor
brightness tells the classes apart: a model has to learn the textures. Files are written as
JPEG in the layout of a Kaggle download (`<split>/<class>/<name>.jpg`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from alexnet_pipeline.config import SAMPLE_CLASSES

TEXTURES = SAMPLE_CLASSES  # params.yaml's `data.sample.classes` choose among them; `_texture` draws each
SHAPES = ("circle", "square", "triangle", "star")


@dataclass(frozen=True)
class SampleSpec:
    """What to generate: classes, images per class and split, and canvas size range."""

    classes: tuple[str, ...]
    train_per_class: int
    test_per_class: int
    min_side: int
    max_side: int
    seed: int


def _image_rng(seed: int, split: str, label: str, index: int) -> np.random.Generator:
    """One independent generator per image, so any image can be rebuilt on its own."""
    digest = hashlib.sha256(f"{seed}/{split}/{label}/{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, size=3))


def _luma(colour: np.ndarray) -> float:
    return float(0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2])


def _contrasting_pair(rng: np.random.Generator, min_luma_gap: float = 90):
    """Two random colours (any hues) whose brightness differs by at least `min_luma_gap`.

    Which of the two is darker is a coin flip, so texture area never hints at brightness.
    """
    for _ in range(200):
        first, second = rng.integers(0, 256, size=(2, 3)).astype(np.float32)
        if abs(_luma(first) - _luma(second)) >= min_luma_gap:
            return first, second
    return np.zeros(3, np.float32), np.full(3, 255, np.float32)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A linear gradient between two random colours in a random direction (float32 HxWx3)."""
    start = rng.integers(0, 256, size=3).astype(np.float32)
    end = rng.integers(0, 256, size=3).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (xs * math.cos(angle) + ys * math.sin(angle)) / max(width, height)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return start + t[..., None] * (end - start)


def _shape_polygon(shape: str, cx: float, cy: float, radius: float, rotation: float):
    """Vertices of a regular shape of circumradius `radius`, rotated by `rotation` radians."""
    if shape == "square":
        angles = [rotation + math.pi / 4 + k * math.pi / 2 for k in range(4)]
        radii = [radius] * 4
    elif shape == "triangle":
        angles = [rotation + k * 2 * math.pi / 3 for k in range(3)]
        radii = [radius] * 3
    elif shape == "star":
        angles = [rotation + k * math.pi / 5 for k in range(10)]
        radii = [radius if k % 2 == 0 else radius * 0.45 for k in range(10)]
    else:
        raise ValueError(f"no polygon for shape {shape!r}")
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii)]


def _draw_clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, height: int):
    """Distractors: thin lines and small ellipses in random colours all over the canvas."""
    for _ in range(int(rng.integers(1, 4))):
        x0, x1 = rng.uniform(0, width, size=2)
        y0, y1 = rng.uniform(0, height, size=2)
        draw.line([(x0, y0), (x1, y1)], fill=_random_colour(rng), width=int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(2, 7))):
        r = rng.uniform(1, max(2.0, min(width, height) * 0.03))
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_random_colour(rng))


def _texture(texture: str, rng: np.random.Generator, width: int, height: int, cx: float,
             cy: float, period: float) -> np.ndarray:
    """Boolean HxW pattern of `texture` with a random orientation, centred on (cx, cy)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    u = (xs - cx) * math.cos(angle) + (ys - cy) * math.sin(angle)
    v = -(xs - cx) * math.sin(angle) + (ys - cy) * math.cos(angle)
    if texture == "stripes":
        return np.mod(u / period, 1.0) < 0.5
    if texture == "checks":
        return (np.floor(u / period) + np.floor(v / period)) % 2 == 0
    if texture == "dots":
        du, dv = np.mod(u / period, 1.0) - 0.5, np.mod(v / period, 1.0) - 0.5
        return du**2 + dv**2 < 0.3**2
    if texture == "rings":
        return np.mod(np.hypot(u, v) / period, 1.0) < 0.5
    raise ValueError(f"unknown texture {texture!r}")


def _shape_mask(rng: np.random.Generator, width: int, height: int, cx: float, cy: float,
                radius: float) -> np.ndarray:
    """Boolean HxW mask of a random shape of circumradius `radius` at (cx, cy)."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    if shape == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    else:
        radius *= 1.2 if shape in ("triangle", "star") else 1.0  # similar areas across shapes
        draw.polygon(_shape_polygon(shape, cx, cy, radius, rng.uniform(0, 2 * math.pi)), fill=255)
    return np.asarray(mask) > 127


def render_image(spec: SampleSpec, split: str, label: str, index: int) -> Image.Image:
    """Render one sample image of class `label`; the same arguments always give the same image."""
    rng = _image_rng(spec.seed, split, label, index)
    width = int(rng.integers(spec.min_side, spec.max_side + 1))
    height = int(rng.integers(spec.min_side, spec.max_side + 1))
    canvas = _background(rng, width, height)
    clutter = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    _draw_clutter(ImageDraw.Draw(clutter), rng, width, height)
    canvas = np.asarray(clutter, dtype=np.float32)

    # 1-2 textured objects, all inside the centred square so centre-crop resizing keeps them.
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    for _ in range(int(rng.integers(1, 3))):
        radius = rng.uniform(0.3, 0.5) * side
        cx = left + rng.uniform(radius, side - radius)
        cy = top + rng.uniform(radius, side - radius)
        mask = _shape_mask(rng, width, height, cx, cy, radius)
        pattern = _texture(label, rng, width, height, cx, cy, rng.uniform(0.06, 0.11) * side)
        ink, paper = _contrasting_pair(rng)
        canvas = np.where((mask & pattern)[..., None], ink, canvas)
        canvas = np.where((mask & ~pattern)[..., None], paper, canvas)

    image = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.0))))
    pixels = np.asarray(image, dtype=np.float32)
    pixels += rng.normal(0.0, rng.uniform(2, 8), size=pixels.shape).astype(np.float32)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def iter_sample(spec: SampleSpec) -> Iterator[tuple[str, str, int]]:
    """Yield (split, label, index) for every image of the sample, in a fixed order."""
    for split, per_class in (("train", spec.train_per_class), ("test", spec.test_per_class)):
        for label in spec.classes:
            for index in range(per_class):
                yield split, label, index


def write_sample(spec: SampleSpec, root: Path, jpeg_quality: int = 90) -> int:
    """Write the whole sample under `root` as `<split>/<label>/<label>.<index>.jpg`; return the count."""
    unknown = sorted(set(spec.classes) - set(TEXTURES))
    if unknown:
        raise ValueError(f"unknown sample classes {unknown}; choose from {', '.join(TEXTURES)}")
    count = 0
    for split, label, index in iter_sample(spec):
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        image = render_image(spec, split, label, index)
        image.save(folder / f"{label}.{index:04d}.jpg", format="JPEG", quality=jpeg_quality)
        count += 1
    return count
