"""The paper's PCA lighting augmentation as a Keras layer, so it runs where the model runs.

Each training image gets one colour shift: the RGB principal components of the train set times
alpha ~ N(0, stddev) times each component's standard deviation (Krizhevsky et al. 2012, 4.1).
Inside the model it runs on the accelerator, on whole batches, and the input pipeline can hand
over uint8 pixels (a quarter of the bytes of float32). Like Keras' Random* layers it does nothing
outside training, so evaluation and prediction see the images unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


@keras.saving.register_keras_serializable(package="alexnet_pipeline")
class PCALighting(layers.Layer):
    """Adds per-image PCA colour noise to 0..255 RGB batches in training; clips to 0..255.

    `eigenvalues` (largest first) and `eigenvectors` (as columns) describe the RGB covariance of
    the train set in 0..255 units, as preprocess writes them to stats.json. It computes in float32
    under any policy: bfloat16 holds 0..255 to a step of 1 above 128, coarser than the shifts."""

    def __init__(self, stddev: float = 0.1, eigenvalues: Sequence[float] = (0.0, 0.0, 0.0),
                 eigenvectors: Sequence[Sequence[float]] = IDENTITY, seed: int | None = None,
                 **kwargs) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.eigenvalues = [float(v) for v in eigenvalues]
        self.eigenvectors = [[float(v) for v in row] for row in eigenvectors]
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training or self.stddev <= 0:
            return images
        images = ops.cast(images, self.compute_dtype)
        alpha = keras.random.normal((ops.shape(images)[0], 3), stddev=self.stddev, seed=self.seed_generator)
        scale = alpha * ops.sqrt(ops.convert_to_tensor(self.eigenvalues, alpha.dtype))
        shift = ops.matmul(scale, ops.transpose(ops.convert_to_tensor(self.eigenvectors, alpha.dtype)))
        shift = ops.cast(shift, images.dtype)[:, None, None, :]
        return ops.clip(images + shift, 0.0, 255.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "eigenvalues": self.eigenvalues,
                "eigenvectors": self.eigenvectors, "seed": self.seed}
