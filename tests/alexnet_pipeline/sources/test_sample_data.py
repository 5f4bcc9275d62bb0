"""The built-in synthetic sample: deterministic, laid out like a download, and not solvable by colour."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet_pipeline.sources.sample_data import SampleSpec, render_image, write_sample
from tests.helpers import shipped_params_dict, tree_digests

# The classes the shipped params.yaml asks the generator for.
CLASSES = tuple(shipped_params_dict()["data"]["sample"]["classes"])


def _spec(seed: int = 7, train: int = 3, test: int = 2, min_side: int = 16,
          max_side: int = 48) -> SampleSpec:
    return SampleSpec(CLASSES, train, test, min_side, max_side, seed)


def test_same_spec_and_seed_give_byte_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert write_sample(_spec(), first) == write_sample(_spec(), second) == 4 * (3 + 2)
    digests = tree_digests(first)
    assert len(digests) == 4 * (3 + 2)
    assert digests == tree_digests(second)


def test_different_seed_gives_different_images(tmp_path: Path) -> None:
    write_sample(_spec(seed=7), tmp_path / "a")
    write_sample(_spec(seed=8), tmp_path / "b")
    a, b = tree_digests(tmp_path / "a"), tree_digests(tmp_path / "b")
    assert a.keys() == b.keys()  # same names ...
    assert all(a[name] != b[name] for name in a)  # ... but no image is the same


def test_jpeg_quality_changes_the_bytes(tmp_path: Path) -> None:
    write_sample(_spec(), tmp_path / "q90", jpeg_quality=90)
    write_sample(_spec(), tmp_path / "q50", jpeg_quality=50)
    assert tree_digests(tmp_path / "q90") != tree_digests(tmp_path / "q50")


def test_layout_is_split_class_label_index_jpg(tmp_path: Path) -> None:
    write_sample(_spec(train=3, test=2), tmp_path)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    expected = sorted(
        [f"train/{c}/{c}.{i:04d}.jpg" for c in CLASSES for i in range(3)]
        + [f"test/{c}/{c}.{i:04d}.jpg" for c in CLASSES for i in range(2)]
    )
    assert files == expected
    for name in files:
        assert re.fullmatch(r"(train|test)/(\w+)/\2\.\d{4}\.jpg", name)
        with Image.open(tmp_path / name) as image:
            assert image.format == "JPEG" and image.mode == "RGB"


def test_sizes_vary_within_min_and_max_side(tmp_path: Path) -> None:
    write_sample(_spec(train=6, test=2, min_side=20, max_side=60), tmp_path)
    sizes = []
    for path in tmp_path.rglob("*.jpg"):
        with Image.open(path) as image:
            sizes.append(image.size)
    assert len(sizes) == 4 * 8
    assert all(20 <= w <= 60 and 20 <= h <= 60 for w, h in sizes)
    assert len({w for w, _ in sizes}) > 5 and len({h for _, h in sizes}) > 5
    assert any(w != h for w, h in sizes)  # not only squares


def test_render_image_is_deterministic_per_image() -> None:
    spec = _spec()
    label = CLASSES[-1]
    one = np.asarray(render_image(spec, "train", label, 1))
    again = np.asarray(render_image(spec, "train", label, 1))
    other = np.asarray(render_image(spec, "train", label, 2))
    assert np.array_equal(one, again)
    assert one.shape != other.shape or not np.array_equal(one, other)


def test_unknown_class_name_raises_and_writes_nothing(tmp_path: Path) -> None:
    spec = SampleSpec((CLASSES[0], "hexagon"), 2, 1, 16, 32, 0)
    with pytest.raises(ValueError, match="hexagon"):
        write_sample(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_every_class_can_be_generated_at_the_smallest_size() -> None:
    spec = SampleSpec(CLASSES, 1, 1, 8, 8, 0)
    for label in CLASSES:
        assert render_image(spec, "train", label, 0).size == (8, 8)


# --- mean colour is not a giveaway -------------------------------------------------------------

PER_CLASS = 40


def _mean_rgb_by_class(spec: SampleSpec, tint: dict[str, np.ndarray] | None = None
                       ) -> dict[str, np.ndarray]:
    """{class: PER_CLASS x 3 array of each image's mean R, G, B}."""
    means = {}
    for label in spec.classes:
        rows = []
        for index in range(PER_CLASS):
            pixels = np.asarray(render_image(spec, "train", label, index), dtype=np.float64)
            if tint is not None:
                pixels = np.clip(pixels + tint.get(label, 0.0), 0, 255)
            rows.append(pixels.reshape(-1, 3).mean(axis=0))
        means[label] = np.array(rows)
    return means


def _separation(means: dict[str, np.ndarray]) -> float:
    """Largest per-channel spread of the class averages, in units of the within-class spread.

    With no class effect, each class average has a standard error of sd / sqrt(40) ~ 0.16 sd,
    so the range of 4 such averages is typically ~0.35 sd (0.2..0.6 over seeds 0..9); a colour
    that marks a class moves its average by well over one sd.
    """
    class_means = np.array([m.mean(axis=0) for m in means.values()])
    within_sd = np.sqrt(np.mean([m.var(axis=0, ddof=1) for m in means.values()], axis=0))
    return float(((class_means.max(axis=0) - class_means.min(axis=0)) / within_sd).max())


def _nearest_centroid_accuracy(means: dict[str, np.ndarray]) -> float:
    """Leave-one-out accuracy of classifying images by their mean colour alone."""
    features = np.concatenate(list(means.values()))
    labels = np.repeat(np.arange(len(means)), PER_CLASS)
    correct = 0
    for i in range(len(features)):
        keep = np.arange(len(features)) != i
        centroids = np.array([features[keep & (labels == k)].mean(axis=0) for k in range(len(means))])
        correct += int(np.argmin(((centroids - features[i]) ** 2).sum(axis=1)) == labels[i])
    return correct / len(features)


def test_per_class_mean_colour_does_not_tell_the_classes_apart() -> None:
    spec = SampleSpec(CLASSES, PER_CLASS, 1, 16, 40, 42)
    means = _mean_rgb_by_class(spec)
    assert _separation(means) < 1.0
    # A second view: classifying images by mean colour alone is near chance (0.25).
    assert _nearest_centroid_accuracy(means) < 0.45


def test_the_colour_check_catches_a_colour_giveaway() -> None:
    """The same check fails when one class is tinted, so passing it above means something."""
    spec = SampleSpec(CLASSES, PER_CLASS, 1, 16, 40, 42)
    tinted = _mean_rgb_by_class(spec, tint={CLASSES[0]: np.array([80.0, 0.0, 0.0])})
    assert _separation(tinted) > 1.0
