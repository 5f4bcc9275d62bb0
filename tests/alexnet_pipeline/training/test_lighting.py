"""PCALighting: the paper's colour noise, applied by the model in training only."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from alexnet_pipeline.training.lighting import PCALighting
from alexnet_pipeline.training.model import build_alexnet, load_model

EIGEN = {"eigenvalues": (2500.0, 0.0, 0.0), "eigenvectors": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))}


def test_training_shifts_each_image_by_one_colour_along_the_components() -> None:
    flat = np.full((4, 6, 6, 3), 100, np.uint8)
    shifted = np.asarray(PCALighting(0.1, **EIGEN, seed=1)(flat, training=True))
    assert shifted.dtype == np.float32
    for image in shifted:
        assert np.allclose(image, image[0, 0])  # one colour shift for the whole image
        assert 0 < abs(image[0, 0, 0] - 100) < 50 and np.allclose(image[0, 0, 1:], 100)  # component 1 only
    assert len({round(float(image[0, 0, 0]), 3) for image in shifted}) == 4  # a shift per image


def test_values_stay_in_0_255() -> None:
    extremes = np.concatenate([np.zeros((8, 4, 4, 3)), np.full((8, 4, 4, 3), 255.0)]).astype(np.float32)
    shifted = np.asarray(PCALighting(1.0, eigenvalues=(4000.0, 300.0, 50.0),
                                     eigenvectors=((0.58, -0.7, 0.4), (0.58, 0.0, -0.8), (0.58, 0.7, 0.4)),
                                     seed=2)(extremes, training=True))
    assert shifted.min() >= 0.0 and shifted.max() <= 255.0
    assert not np.array_equal(shifted, extremes)


def test_outside_training_the_images_pass_unchanged() -> None:
    images = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3)).astype(np.float32)
    layer = PCALighting(0.1, **EIGEN, seed=1)
    assert np.array_equal(np.asarray(layer(images, training=False)), images)
    assert np.array_equal(np.asarray(layer(images)), images)


def test_the_same_seed_gives_the_same_noise() -> None:
    flat = np.full((3, 2, 2, 3), 100, np.float32)
    first = np.asarray(PCALighting(0.1, **EIGEN, seed=7)(flat, training=True))
    second = np.asarray(PCALighting(0.1, **EIGEN, seed=7)(flat, training=True))
    assert np.array_equal(first, second)


def test_a_model_with_lighting_takes_uint8_and_saves_and_loads(tmp_path: Path) -> None:
    model = build_alexnet(3, 67, variant="bn", seed=0, channel_mean=[120.0] * 3, channel_std=[60.0] * 3,
                          augment=[PCALighting(0.1, **EIGEN, seed=0, name="pca_lighting")])
    images = np.random.default_rng(1).integers(0, 256, (2, 67, 67, 3)).astype(np.uint8)
    before = np.asarray(model(images, training=False))
    assert np.allclose(before, np.asarray(model(images.astype(np.float32), training=False)))
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("pca_lighting"), PCALighting)
    assert loaded.get_layer("pca_lighting").eigenvalues == [2500.0, 0.0, 0.0]
    assert np.allclose(np.asarray(loaded(images, training=False)), before, atol=1e-6)
    keras.backend.clear_session()
