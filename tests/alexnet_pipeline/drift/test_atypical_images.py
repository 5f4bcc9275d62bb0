"""The gallery of atypical new images: atypicality is the mean Euclidean distance to the k nearest
reference embeddings (pinned against a brute-force computation, k larger than the reference
included), the most atypical come first with their prediction, and their thumbnails are written
from the real files, atomically."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet_pipeline.drift.atypical_images import (
    EMPTY_NOTE,
    GALLERY_SIZE,
    NEIGHBOURS,
    THUMBNAIL_SIDE,
    atypicality,
    most_atypical,
    write_gallery,
)
from tests.helpers import write_image


def _brute(reference: np.ndarray, current: np.ndarray, k: int) -> list[float]:
    """Each current row's mean distance to its k nearest reference rows, by explicit loops."""
    means = []
    for row in current.tolist():
        distances = sorted(math.dist(row, other) for other in reference.tolist())
        means.append(sum(distances[:k]) / len(distances[:k]))
    return means


@pytest.mark.parametrize("k", [1, 3, NEIGHBOURS, 8, 50])  # 8: every reference row; 50: more than there are
def test_atypicality_is_the_mean_distance_to_the_k_nearest_reference_rows(k: int) -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(8, 6)).astype(np.float32)
    current = rng.normal(1.0, 2.0, size=(5, 6)).astype(np.float32)
    assert atypicality(reference, current, k) == pytest.approx(_brute(reference, current, min(k, 8)), rel=1e-9)


def test_k_beyond_the_reference_size_takes_every_reference_row() -> None:
    reference = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert atypicality(reference, np.array([[0.0, 0.0]]), k=5).tolist() == [2.5]  # (0 + 5) / 2
    assert atypicality(reference, np.array([[0.0, 0.0]]), k=1).tolist() == [0.0]


def test_an_image_of_the_reference_is_at_distance_zero_from_itself() -> None:
    reference = np.random.default_rng(1).normal(size=(20, 4096)).astype(np.float32) * 10
    assert atypicality(reference, reference[:3], k=1) == pytest.approx([0.0] * 3, abs=1e-3)


def test_atypicality_needs_a_reference_and_a_positive_k() -> None:
    with pytest.raises(ValueError, match="no reference embeddings"):
        atypicality(np.zeros((0, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="k must be at least 1, not 0"):
        atypicality(np.zeros((2, 3)), np.zeros((2, 3)), k=0)


def _probabilities(count: int) -> np.ndarray:
    """Class 1 of ["cat", "dog"] with confidence 0.5 + i/100 for image i."""
    return np.array([[0.5 - i / 100, 0.5 + i / 100] for i in range(count)])


def test_the_most_atypical_come_first_with_their_prediction_and_thumbnail_name() -> None:
    """15 images at distances 0..14 from a one-row reference (shuffled), 2 of them tied: the 12
    farthest, farthest first, ties by path."""
    reference = np.zeros((1, 2))
    distance = [float(d) for d in range(15)]
    distance[3] = 14.0  # ties with image 14
    order = np.random.default_rng(2).permutation(15)
    paths = [f"test/x/{i:02d}.jpg" for i in order]
    current = np.array([[distance[i], 0.0] for i in order])
    probabilities = _probabilities(15)[order]
    gallery = most_atypical(paths, reference, current, probabilities, ["cat", "dog"])
    assert len(gallery) == GALLERY_SIZE == 12
    assert [entry["path"] for entry in gallery] == [
        "test/x/03.jpg", "test/x/14.jpg", *(f"test/x/{i:02d}.jpg" for i in range(13, 3, -1))]
    assert gallery[0] == {"path": "test/x/03.jpg", "predicted": "dog", "confidence": 0.53, "distance": 14.0,
                          "thumbnail": "01.jpg"}
    assert [entry["thumbnail"] for entry in gallery] == [f"{rank:02d}.jpg" for rank in range(1, 13)]
    assert gallery[-1]["distance"] == 4.0


def test_fewer_images_than_the_gallery_holds_are_all_shown() -> None:
    gallery = most_atypical(["a.jpg", "b.jpg", "c.jpg"], np.zeros((4, 2)), np.array([[1.0, 0], [3.0, 0], [2.0, 0]]),
                            np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), ["cat", "dog"])
    assert [(e["path"], e["predicted"], e["confidence"], e["distance"]) for e in gallery] == [
        ("b.jpg", "dog", 0.8, 3.0), ("c.jpg", "cat", 0.6, 2.0), ("a.jpg", "cat", 0.9, 1.0)]


def test_no_reference_or_no_image_is_an_empty_gallery() -> None:
    assert most_atypical(["a.jpg"], np.zeros((0, 2)), np.zeros((1, 2)), np.ones((1, 2)) / 2, ["x", "y"]) == []
    assert most_atypical([], np.zeros((3, 2)), np.zeros((0, 2)), np.zeros((0, 2)), ["x", "y"]) == []
    with pytest.raises(ValueError, match="2 paths, 1 embeddings and 1 predictions differ"):
        most_atypical(["a.jpg", "b.jpg"], np.zeros((3, 2)), np.zeros((1, 2)), np.zeros((1, 2)), ["x", "y"])


def test_thumbnails_are_jpegs_of_the_raw_files_at_most_128_pixels(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_image(raw / "test/x/wide.png", size=(300, 200), fmt="PNG", mode="RGBA")
    write_image(raw / "test/x/small.jpg", size=(60, 90))
    gallery = [{"path": "test/x/wide.png", "thumbnail": "01.jpg"}, {"path": "test/x/small.jpg", "thumbnail": "02.jpg"}]
    folder = tmp_path / "reports" / "drift_gallery"
    write_gallery(folder, raw, gallery)
    assert sorted(p.name for p in folder.iterdir()) == ["01.jpg", "02.jpg"]
    with Image.open(folder / "01.jpg") as wide, Image.open(folder / "02.jpg") as small:
        assert (wide.format, wide.mode, wide.size) == ("JPEG", "RGB", (THUMBNAIL_SIDE, 85))
        assert small.size == (60, 90)  # never enlarged


def test_the_folder_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    raw, folder = tmp_path / "raw", tmp_path / "gallery"
    write_image(raw / "a.jpg", size=(50, 50))
    write_gallery(folder, raw, [{"path": "a.jpg", "thumbnail": "01.jpg"}, {"path": "a.jpg", "thumbnail": "02.jpg"}])
    write_gallery(folder, raw, [{"path": "a.jpg", "thumbnail": "01.jpg"}])
    assert [p.name for p in folder.iterdir()] == ["01.jpg"]  # the old 02.jpg is gone
    before = (folder / "01.jpg").read_bytes()
    with pytest.raises(FileNotFoundError):
        write_gallery(folder, raw, [{"path": "a.jpg", "thumbnail": "01.jpg"}, {"path": "gone.jpg", "thumbnail": "02.jpg"}])
    assert [p.name for p in folder.iterdir()] == ["01.jpg"] and (folder / "01.jpg").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    write_gallery(folder, raw, [])
    assert [p.name for p in folder.iterdir()] == [EMPTY_NOTE]
    assert "nothing is blessed yet" in (folder / EMPTY_NOTE).read_text()
