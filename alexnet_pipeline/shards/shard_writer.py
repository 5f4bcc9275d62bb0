"""Writing one shard in a worker process: the per-image work of the preprocess stage.

Kept apart from the stage (no pandas, no TensorFlow) so that worker processes start fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from alexnet_pipeline.shards.images import encode_jpeg, prepare_image
from alexnet_pipeline.shards.shard_format import encode_example, write_shard

STATS_STRIDE = 4  # stats.json samples one pixel in 4 x 4


class PixelStats:
    """Exact integer sums over uint8 RGB pixels: count, per-channel sums and channel products.
    Integers make the result independent of how the work was split among workers."""

    def __init__(self) -> None:
        self.count = 0
        self.sums = np.zeros(3, dtype=np.int64)
        self.products = np.zeros((3, 3), dtype=np.int64)

    def add(self, image: Image.Image) -> None:
        """Count every STATS_STRIDE-th pixel of each STATS_STRIDE-th row: a fixed grid, enough for
        the statistics of a training set at a fraction of the cost."""
        pixels = np.asarray(image)[::STATS_STRIDE, ::STATS_STRIDE]
        flat = pixels.reshape(-1, 3).astype(np.float64)
        # integer-valued float64 sums stay exact below 2**53 (an image adds at most 255**2 per
        # pixel), so the summation order cannot change them; einsum, unlike a matrix product,
        # starts no BLAS threads to compete with the other workers
        self.count += flat.shape[0]
        self.sums += flat.sum(axis=0).astype(np.int64)
        self.products += np.einsum("ni,nj->ij", flat, flat).astype(np.int64)

    def merge(self, other: PixelStats) -> None:
        self.count += other.count
        self.sums += other.sums
        self.products += other.products

    def as_json(self) -> dict[str, Any]:
        """Mean and std per channel, and the eigen-decomposition of the RGB covariance (0..255
        units; eigenvalues largest first, eigenvectors as columns)."""
        mean = self.sums / self.count
        covariance = self.products / self.count - np.outer(mean, mean)
        std = np.sqrt(np.maximum(np.diag(covariance), 1e-12))
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        eigenvectors = eigenvectors[:, order]
        signs = np.sign(eigenvectors.sum(axis=0))
        eigenvectors = eigenvectors * np.where(signs == 0, 1.0, signs)  # one sign per vector, always
        return {"mean": _rounded(mean), "std": _rounded(std), "pixels": self.count,
                "eigenvalues": _rounded(np.maximum(eigenvalues[order], 0.0)),
                "eigenvectors": [_rounded(row) for row in eigenvectors]}


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


@dataclass(frozen=True)
class ShardJob:
    """One shard to write: its final path and its images as (relative path, class id, sha256)."""

    path: Path
    split: str
    images: tuple[tuple[str, int, str], ...]


@dataclass(frozen=True)
class ShardSettings:
    raw_dir: Path
    image_size: int
    resize: str
    encoding: str
    jpeg_quality: int


def write_shard_job(job: ShardJob, settings: ShardSettings) -> PixelStats:
    """Write one shard (in a worker process); return the pixel sums of its images if train."""
    stats = PixelStats()

    def records():
        for relpath, label, sha256 in job.images:
            image = prepare_image(settings.raw_dir / relpath, settings.image_size, settings.resize)
            if job.split == "train":
                stats.add(image)
            data = encode_jpeg(image, settings.jpeg_quality) if settings.encoding == "jpeg" else image.tobytes()
            yield encode_example(data, label, relpath, sha256, image.height, image.width)

    write_shard(job.path, records())
    return stats
