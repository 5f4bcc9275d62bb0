"""The gallery of atypical new images: the sampled images of this data farthest from the blessed
model's reference data in embedding space, for a person to look at beside the statistics.

Atypicality is the mean Euclidean distance from an image's embedding (the blessed model's
penultimate layer) to its k = 5 nearest embeddings of the reference sample (all of them when the
reference has fewer than k). An image like many reference images is close to its nearest five;
an image unlike any of them (darker, another subject, a broken file that still decodes) is far.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alexnet_pipeline.core import atomic
from alexnet_pipeline.shards.images import load_rgb

GALLERY_SIZE = 12
NEIGHBOURS = 5
THUMBNAIL_SIDE = 128  # the longest side of a thumbnail; smaller images are not enlarged
EMPTY_NOTE = "README.txt"
EMPTY_TEXT = "No gallery: nothing is blessed yet, so there is no reference to compare this data with.\n"


def atypicality(reference: np.ndarray, current: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Each row of `current`: its mean Euclidean distance to its `k` nearest rows of `reference`
    (all of them when there are fewer). Needs a reference row and k >= 1."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if len(reference) == 0:
        raise ValueError("no reference embeddings to measure distances to")
    old = np.asarray(reference, dtype=np.float64)
    new = np.asarray(current, dtype=np.float64)
    squared = (np.sum(new * new, axis=1)[:, None] + np.sum(old * old, axis=1)[None, :] - 2.0 * new @ old.T)
    distances = np.sqrt(np.maximum(squared, 0.0))
    nearest = min(k, len(old))
    return np.partition(distances, nearest - 1, axis=1)[:, :nearest].mean(axis=1)


def most_atypical(paths: Sequence[str], reference: np.ndarray, current: np.ndarray, probabilities: np.ndarray,
                  labels: Sequence[str], count: int = GALLERY_SIZE, k: int = NEIGHBOURS) -> list[dict[str, Any]]:
    """The drift report's `gallery`: the `count` images of `paths` (embedded as the rows of
    `current`, with the blessed model's class `probabilities`) of highest atypicality, the most
    atypical first (ties by path), each with its dataset path, predicted class, confidence,
    distance and the file name of its thumbnail; empty without reference or current rows."""
    if len(paths) != len(current) or len(current) != len(probabilities):
        raise ValueError(f"{len(paths)} paths, {len(current)} embeddings and {len(probabilities)} predictions differ")
    if len(reference) == 0 or len(current) == 0:
        return []
    distances = atypicality(reference, current, k)
    order = sorted(range(len(paths)), key=lambda i: (-distances[i], paths[i]))[:count]
    return [{"path": paths[i], "predicted": str(labels[int(np.argmax(probabilities[i]))]),
             "confidence": round(float(np.max(probabilities[i])), 4), "distance": round(float(distances[i]), 4),
             "thumbnail": f"{rank:02d}.jpg"} for rank, i in enumerate(order, start=1)]


def write_gallery(folder: Path, raw: Path, gallery: Sequence[dict[str, Any]]) -> None:
    """Replace `folder`, atomically, with a JPEG thumbnail (longest side THUMBNAIL_SIDE) of each
    gallery image, read from its file under `raw`, named as the entry says; an empty gallery
    leaves a note instead, so that the folder always exists."""
    with atomic.atomic_path(folder) as tmp:
        tmp.mkdir()
        if not gallery:
            (tmp / EMPTY_NOTE).write_text(EMPTY_TEXT)
        for entry in gallery:
            image = load_rgb(raw / entry["path"])
            image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            image.save(tmp / entry["thumbnail"], format="JPEG", quality=85)
