"""load_rgb / resize_square / encode_jpeg: any accepted image becomes an upright RGB square."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet_pipeline.shards import images as images_module
from alexnet_pipeline.shards.images import (
    encode_jpeg,
    load_rgb,
    prepare_image,
    resize_square,
    stored_size,
)
from tests.helpers import noise_array

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _close(pixel, colour, tolerance: int = 40) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, colour))


def _marked_jpeg(path: Path, orientation: int | None) -> Path:
    """A 40x20 (w x h) blue JPEG with a red 10x10 block in its stored top-left corner."""
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, format="JPEG", quality=95, exif=exif)
    return path


def test_exif_rotated_jpeg_comes_out_upright(tmp_path: Path) -> None:
    path = _marked_jpeg(tmp_path / "rotated.jpg", orientation=6)  # "rotate 90 CW to display"
    with Image.open(path) as raw:
        assert raw.size == (40, 20)  # stored sideways
    upright = load_rgb(path)
    assert upright.size == (20, 40) and upright.mode == "RGB"
    # the stored top-left corner is shown at the top right
    assert _close(upright.getpixel((15, 4)), RED)
    assert _close(upright.getpixel((4, 4)), BLUE)
    assert _close(upright.getpixel((15, 35)), BLUE)


def test_jpeg_without_orientation_is_left_as_is(tmp_path: Path) -> None:
    image = load_rgb(_marked_jpeg(tmp_path / "plain.jpg", orientation=None))
    assert image.size == (40, 20)
    assert _close(image.getpixel((4, 4)), RED) and _close(image.getpixel((35, 15)), BLUE)


def test_rgba_png_is_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (4, 2), (0, 0, 0, 0))  # fully transparent black
    rgba.putpixel((0, 0), (255, 0, 0, 255))  # opaque red
    rgba.putpixel((1, 0), (0, 0, 255, 128))  # half-transparent blue
    rgba.save(tmp_path / "a.png")
    image = load_rgb(tmp_path / "a.png")
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == RED
    assert image.getpixel((3, 1)) == WHITE  # not black: transparency means background
    r, g, b = image.getpixel((1, 0))
    assert 120 <= r <= 135 and 120 <= g <= 135 and b == 255


def test_palette_png_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)
    image = load_rgb(tmp_path / "p.png")
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == WHITE and image.getpixel((1, 0)) == GREEN


def test_palette_gif_becomes_rgb(tmp_path: Path) -> None:
    Image.new("RGB", (6, 6), RED).save(tmp_path / "a.gif")
    with Image.open(tmp_path / "a.gif") as raw:
        assert raw.mode == "P"
    image = load_rgb(tmp_path / "a.gif")
    assert image.mode == "RGB" and image.getpixel((3, 3)) == RED


def test_grayscale_becomes_rgb_with_equal_channels(tmp_path: Path) -> None:
    Image.fromarray(noise_array(16, 8, channels=1)).save(tmp_path / "g.png")
    gray = np.asarray(Image.open(tmp_path / "g.png"))
    image = load_rgb(tmp_path / "g.png")
    pixels = np.asarray(image)
    assert image.mode == "RGB" and pixels.shape == (8, 16, 3)
    for channel in range(3):
        assert np.array_equal(pixels[..., channel], gray)


def test_sixteen_bit_grayscale_keeps_its_tones(tmp_path: Path) -> None:
    """A 16-bit PNG (0..65535) maps to 0..255, instead of clipping everything to white."""
    values = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as raw:
        assert raw.mode.startswith("I;16")
    pixels = np.asarray(load_rgb(tmp_path / "deep.png"))
    assert pixels.shape == (1, 4, 3)
    assert list(pixels[0, :, 0]) == [0, 64, 128, 255]


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_becomes_rgb(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"cmyk.{fmt.lower()}"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, format=fmt)  # pure red in CMYK
    with Image.open(path) as raw:
        assert raw.mode == "CMYK"
    image = load_rgb(path)
    assert image.mode == "RGB" and image.size == (8, 8)
    assert _close(image.getpixel((4, 4)), RED, tolerance=10 if fmt == "JPEG" else 0)


def test_load_rgb_reads_bytes_too() -> None:
    buffer = io.BytesIO()
    Image.new("L", (5, 3), 77).save(buffer, format="PNG")
    buffer.seek(0)
    image = load_rgb(buffer)
    assert image.size == (5, 3) and image.getpixel((0, 0)) == (77, 77, 77)


def test_load_rgb_raises_on_a_truncated_file(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(noise_array(64, 64)).save(buffer, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[:400])
    with pytest.raises(OSError):
        load_rgb(tmp_path / "cut.jpg")


def _three_blocks() -> Image.Image:
    """60x20: red, green and blue 20x20 blocks from left to right."""
    image = Image.new("RGB", (60, 20))
    for i, colour in enumerate((RED, GREEN, BLUE)):
        image.paste(colour, (20 * i, 0, 20 * i + 20, 20))
    return image


def test_crop_keeps_the_centre_square() -> None:
    square = resize_square(_three_blocks(), 10, "crop")
    assert square.size == (10, 10)
    pixels = np.asarray(square).astype(int)
    # only the centre block: pure green inside, edges at most lightly blended by the filter
    assert (np.abs(pixels[:, 1:-1] - GREEN).max(axis=2) <= 1).all()
    assert (pixels[..., 1] >= 200).all() and (pixels[..., [0, 2]] <= 60).all()


def test_squash_keeps_everything_stretched() -> None:
    square = resize_square(_three_blocks(), 12, "squash")
    assert square.size == (12, 12)
    assert _close(square.getpixel((1, 6)), RED, 5)
    assert _close(square.getpixel((6, 6)), GREEN, 5)
    assert _close(square.getpixel((10, 6)), BLUE, 5)


@pytest.mark.parametrize("policy", ["paper", "crop", "squash", "pad"])
@pytest.mark.parametrize("size", [(30, 90), (90, 30), (7, 7), (200, 150)])
def test_output_is_always_the_requested_square(policy: str, size: tuple[int, int]) -> None:
    assert resize_square(Image.new("RGB", size), 67, policy).size == (67, 67)


def test_pad_keeps_everything_and_fills_with_black() -> None:
    square = resize_square(_three_blocks(), 30, "pad")
    assert square.size == (30, 30)
    assert _close(square.getpixel((15, 2)), (0, 0, 0), 5)  # padding above the 30x10 strip
    assert _close(square.getpixel((2, 15)), RED, 5) and _close(square.getpixel((27, 15)), BLUE, 5)


def test_paper_stores_a_margin_for_random_crops() -> None:
    assert stored_size("paper", 227) == 256 and stored_size("paper", 67) == 76
    assert all(stored_size(policy, 227) == 227 for policy in ("crop", "squash", "pad"))


def test_unknown_resize_policy_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown resize policy 'zoom'"):
        resize_square(Image.new("RGB", (8, 8)), 4, "zoom")


def test_large_jpeg_is_decoded_at_a_reduced_scale_with_the_same_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """prepare_image asks the JPEG decoder for the smallest DCT scale that still covers the
    stored square (1/8 here: 200x150 for 76x76), and the picture is the full decode's."""
    big = Image.fromarray(np.kron(noise_array(40, 30, seed=2), np.ones((40, 40, 1), dtype=np.uint8)))
    big.save(tmp_path / "big.jpg", quality=95)  # 1600x1200 of 40-pixel blocks
    with Image.open(tmp_path / "big.jpg") as image:
        image.draft("RGB", (76 * 4 // 3 + 1, 76))
        assert image.size[1] < 1200  # DCT scaling applies: decoding reads fewer pixels
    decoded = []  # the size of each image prepare_image hands to the resize

    def recording_resize(image: Image.Image, size: int, policy: str) -> Image.Image:
        decoded.append(image.size)
        return resize_square(image, size, policy)

    monkeypatch.setattr(images_module, "resize_square", recording_resize)
    fast = np.asarray(prepare_image(tmp_path / "big.jpg", 67, "paper")).astype(int)
    assert decoded == [(200, 150)]  # 1/8 of 1600x1200: the draft took effect
    full = np.asarray(resize_square(load_rgb(tmp_path / "big.jpg"), 76, "paper")).astype(int)
    assert fast.shape == full.shape == (76, 76, 3)
    assert np.abs(fast - full).mean() < 6  # the same picture


def test_prepare_image_applies_orientation_then_resizes(tmp_path: Path) -> None:
    image = prepare_image(_marked_jpeg(tmp_path / "r.jpg", orientation=6), 10, "squash")
    assert image.size == (10, 10) and image.mode == "RGB"
    assert _close(image.getpixel((8, 1)), RED, 60)  # the block is top right once upright
    assert _close(image.getpixel((1, 1)), BLUE, 60)


def test_encode_jpeg_is_deterministic() -> None:
    image = Image.fromarray(noise_array(32, 24, seed=5))
    first = encode_jpeg(image, 90)
    assert first == encode_jpeg(image, 90) == encode_jpeg(image.copy(), 90)
    assert first != encode_jpeg(image, 50)
    decoded = Image.open(io.BytesIO(first))
    assert decoded.format == "JPEG" and decoded.size == (32, 24)
