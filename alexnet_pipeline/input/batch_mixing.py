"""How well training batches mix classes: distinct classes per batch against a uniform shuffle.

A reader that streams class after class gives batches of few classes, which a model trains on
badly (and batch norm normalizes with skewed statistics); nothing fails, the model is just worse.
The measure: the mean number of distinct classes per batch, over what a uniform shuffle of the
same images is expected to give (1.0 is as mixed as a uniform shuffle). The scale benchmark
prints it and the tests bound it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


def expected_distinct(class_counts: Sequence[int], batch_size: int) -> float:
    """Expected distinct classes among `batch_size` images drawn uniformly without replacement from
    a set holding `class_counts[c]` images of class c: the sum over classes of
    1 - C(N - n_c, b) / C(N, b)."""
    total = sum(class_counts)
    if not 0 < batch_size <= total:
        raise ValueError(f"batch size {batch_size} must be in 1..{total} (the images in the set)")

    def log_choose(n: int, k: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)

    absent = [math.exp(log_choose(total - n, batch_size) - log_choose(total, batch_size))
              if total - n >= batch_size else 0.0 for n in class_counts]
    return float(sum(1.0 - p for p in absent))


@dataclass(frozen=True)
class Mixing:
    """Distinct classes per batch over an epoch: observed mean and minimum, and the uniform
    shuffle's expected mean for batches of the same sizes."""

    batches: int
    mean_distinct: float
    min_distinct: int
    uniform_mean: float

    @property
    def ratio(self) -> float:
        return self.mean_distinct / self.uniform_mean


def batch_mixing(label_batches: Iterable[np.ndarray]) -> Mixing:
    """The mixing of one epoch given as its batches of class ids, in reading order."""
    batches = [np.asarray(labels).ravel() for labels in label_batches]
    if not batches:
        raise ValueError("no batches given")
    counts = Counter(int(label) for labels in batches for label in labels)
    distinct = [len(np.unique(labels)) for labels in batches]
    class_counts = list(counts.values())
    per_size = {size: expected_distinct(class_counts, size) for size in {len(labels) for labels in batches}}
    uniform = [per_size[len(labels)] for labels in batches]
    return Mixing(len(batches), float(np.mean(distinct)), int(min(distinct)), float(np.mean(uniform)))


def uniform_shuffle_spread(labels: Sequence[int], batch_size: int, draws: int, seed: int) -> float:
    """The standard deviation of an epoch's mean distinct classes per batch over `draws` uniform
    shuffles of `labels`: the scale against which an observed mean is judged."""
    rng = np.random.default_rng(seed)
    values = np.asarray(labels)
    means = []
    for _ in range(draws):
        shuffled = rng.permutation(values)
        means.append(np.mean([len(np.unique(shuffled[i:i + batch_size]))
                              for i in range(0, len(shuffled), batch_size)]))
    return float(np.std(means, ddof=1))
