"""AlexNet's shape and size follow the paper; the model normalizes its own 0..255 input."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from alexnet_pipeline.config import MIN_IMAGE_SIZE
from alexnet_pipeline.training.model import (
    LocalResponseNormalization,
    build_alexnet,
    load_model,
    lrn_portable,
)

FEATURE_MAPS = {  # layer: (side, channels) at 227x227, as in the paper
    "conv1": (55, 96), "pool1": (27, 96), "conv2": (27, 256), "pool2": (13, 256),
    "conv3": (13, 384), "conv4": (13, 384), "conv5": (13, 256), "pool5": (6, 256),
}
MEAN, STD = [123.0, 117.0, 104.0], [58.0, 57.0, 57.0]


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    yield
    keras.backend.clear_session()


@pytest.mark.parametrize(("num_classes", "normalize", "expected"), [
    (1000, False, 62_378_344),
    (1000, True, 62_378_344),
    (2, False, 58_289_538),
    (2, True, 58_289_538),
])
def test_parameter_count_at_227(num_classes: int, normalize: bool, expected: int) -> None:
    stats = {"channel_mean": MEAN, "channel_std": STD} if normalize else {}
    model = build_alexnet(num_classes, **stats)
    assert model.count_params() == expected == 58_281_344 + 4_097 * num_classes
    assert model.input_shape == (None, 227, 227, 3)
    assert model.output_shape == (None, num_classes)
    assert ("normalize" in [layer.name for layer in model.layers]) is normalize


def test_feature_maps_at_227_match_the_paper() -> None:
    model = build_alexnet(2)
    for name, (side, channels) in FEATURE_MAPS.items():
        assert model.get_layer(name).output.shape == (None, side, side, channels), name
    assert model.get_layer("fc6").output.shape == (None, 4096)
    assert model.get_layer("fc7").output.shape == (None, 4096)
    assert model.get_layer("drop6").rate == 0.5


def test_forward_pass_at_67_gives_probabilities() -> None:
    model = build_alexnet(2, 67, seed=0, channel_mean=MEAN, channel_std=STD)
    assert model.get_layer("pool5").output.shape == (None, 1, 1, 256)  # the smallest input
    images = np.random.default_rng(0).uniform(0, 255, size=(3, 67, 67, 3)).astype("float32")
    probabilities = np.asarray(model(images, training=False))
    assert probabilities.shape == (3, 2)
    assert np.all(probabilities >= 0) and np.all(probabilities <= 1)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(probabilities, np.asarray(model(images, training=False)))  # no dropout


def test_the_model_normalizes_its_own_input() -> None:
    normalizing = build_alexnet(3, 67, seed=5, channel_mean=MEAN, channel_std=STD)
    plain = build_alexnet(3, 67, seed=5)
    images = np.random.default_rng(1).uniform(0, 255, size=(2, 67, 67, 3)).astype("float32")
    standardized = (images - np.array(MEAN, "float32")) / np.array(STD, "float32")
    assert np.allclose(np.asarray(normalizing(images, training=False)),
                       np.asarray(plain(standardized, training=False)), atol=1e-5)


def test_seed_makes_initial_weights_reproducible() -> None:
    first = build_alexnet(2, 67, seed=1).get_layer("conv1").get_weights()[0]
    again = build_alexnet(2, 67, seed=1).get_layer("conv1").get_weights()[0]
    other = build_alexnet(2, 67, seed=2).get_layer("conv1").get_weights()[0]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(("init", "expected_std"), [
    ("paper", 0.01),                       # N(0, 0.01)
    ("he", (2 / (11 * 11 * 3)) ** 0.5),    # sqrt(2 / fan_in) for conv1
])
def test_initializers(init: str, expected_std: float) -> None:
    kernel = build_alexnet(2, 67, init=init, seed=0).get_layer("conv1").get_weights()[0]
    assert kernel.shape == (11, 11, 3, 96)
    assert abs(float(kernel.mean())) < 0.1 * expected_std
    assert float(kernel.std()) == pytest.approx(expected_std, rel=0.1)


def test_unknown_initializer_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        build_alexnet(2, 67, init="xavier")


def test_input_smaller_than_67_cannot_be_built() -> None:
    """config.MIN_IMAGE_SIZE is 67: one pixel less leaves nothing after pool5."""
    with pytest.raises(ValueError):
        build_alexnet(2, MIN_IMAGE_SIZE - 1)


@pytest.mark.parametrize(("variant", "expected"), [
    ("paper", 62_378_344),    # LRN has no parameters
    ("grouped", 60_965_224),  # conv2, conv4, conv5 in two groups, as the paper's two-GPU net
    ("bn", 62_378_344 + 4 * (96 + 256)),  # gamma, beta, moving mean and variance per channel
])
def test_variants_parameter_counts_at_1000_classes(variant: str, expected: int) -> None:
    model = build_alexnet(1000, variant=variant)
    assert model.count_params() == expected
    for name, (side, channels) in FEATURE_MAPS.items():
        assert model.get_layer(name).output.shape == (None, side, side, channels), (variant, name)


def test_paper_variant_has_lrn_after_conv1_and_conv2_and_grouped_convolutions_only_when_asked() -> None:
    paper = build_alexnet(2, 67, variant="paper")
    names = [layer.name for layer in paper.layers]
    assert names.index("conv1") < names.index("norm1") < names.index("pool1")
    assert names.index("conv2") < names.index("norm2") < names.index("pool2")
    assert isinstance(paper.get_layer("norm1"), LocalResponseNormalization)
    assert paper.get_layer("conv2").groups == 1
    grouped = build_alexnet(2, 67, variant="grouped")
    assert [grouped.get_layer(n).groups for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [1, 2, 1, 2, 2]
    assert type(build_alexnet(2, 67, variant="bn").get_layer("norm1")).__name__ == "BatchNormalization"


def test_lrn_matches_tensorflows_with_the_papers_constants() -> None:
    """The layer, and the portable version that other Keras backends (JAX on a GPU) run."""
    import tensorflow as tf

    activations = np.random.default_rng(3).uniform(0, 50, size=(2, 5, 5, 16)).astype("float32")
    reference = tf.nn.local_response_normalization(activations, depth_radius=2, bias=2.0, alpha=1e-4,
                                                   beta=0.75).numpy()
    assert np.allclose(np.asarray(LocalResponseNormalization()(activations)), reference, rtol=1e-5)
    portable = lrn_portable(tf.constant(activations), 5, 2.0, 1e-4, 0.75)
    assert np.allclose(np.asarray(portable), reference, rtol=1e-5)
    assert not np.allclose(reference, activations / 2.0**0.75, rtol=1e-3)  # the window matters


def test_paper_init_sets_the_papers_biases() -> None:
    model = build_alexnet(2, 67, init="paper", seed=0)
    for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        assert np.all(model.get_layer(name).get_weights()[1] == 1.0), name
    for name in ("conv1", "conv3", "predictions"):
        assert np.all(model.get_layer(name).get_weights()[1] == 0.0), name
    assert np.all(build_alexnet(2, 67, init="glorot", seed=0).get_layer("conv2").get_weights()[1] == 0.0)


def test_a_saved_paper_model_loads_back_with_its_lrn(tmp_path) -> None:
    model = build_alexnet(2, 67, seed=4, channel_mean=MEAN, channel_std=STD)
    model.save(tmp_path / "alexnet.keras")
    images = np.random.default_rng(2).uniform(0, 255, size=(2, 67, 67, 3)).astype("float32")
    loaded = load_model(tmp_path / "alexnet.keras")
    assert np.allclose(np.asarray(loaded(images, training=False)), np.asarray(model(images, training=False)))


def _classes_in_saved_config(path) -> set[str]:
    """Every (module, class) a saved .keras file names: what loading it must import."""
    import json
    import zipfile

    found = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if "class_name" in node and "module" in node:
                found.add(f"{node['module']}.{node['class_name']}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with zipfile.ZipFile(path) as archive:
        walk(json.loads(archive.read("config.json")))
    return found


@pytest.mark.parametrize("variant", ["paper", "grouped", "bn"])
def test_a_portable_model_is_keras_only_and_predicts_as_the_training_model(tmp_path, variant: str) -> None:
    trained = build_alexnet(3, 67, variant=variant, seed=5, channel_mean=MEAN, channel_std=STD)
    portable = build_alexnet(3, 67, variant=variant, seed=6, channel_mean=MEAN, channel_std=STD, portable=True)
    portable.set_weights(trained.get_weights())
    portable.save(tmp_path / "portable.keras")
    classes = _classes_in_saved_config(tmp_path / "portable.keras")
    assert classes and all(name.startswith("keras.") for name in classes), classes
    images = np.random.default_rng(2).uniform(0, 255, size=(2, 67, 67, 3)).astype("float32")
    loaded = keras.saving.load_model(tmp_path / "portable.keras")
    assert np.allclose(np.asarray(loaded(images, training=False)), np.asarray(trained(images, training=False)),
                       atol=1e-6)
    if variant != "bn":  # the training model's own LRN layer is this project's
        trained.save(tmp_path / "trained.keras")
        assert any(not name.startswith("keras.") for name in _classes_in_saved_config(tmp_path / "trained.keras"))


def test_unknown_variant_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown variant 'vgg'"):
        build_alexnet(2, 67, variant="vgg")


def test_weight_decay_adds_the_papers_gradient_term() -> None:
    """The paper's update has `weight_decay * w` in the gradient: an L2 penalty of wd/2 * |w|^2."""
    plain = build_alexnet(2, 67, variant="bn", seed=0)
    decayed = build_alexnet(2, 67, variant="bn", seed=0, weight_decay=5e-4)
    assert plain.losses == [] and len(decayed.losses) == 8  # five conv kernels, three dense
    kernel = decayed.get_layer("fc7").kernel
    penalty = 5e-4 / 2 * float(np.sum(np.square(np.asarray(kernel))))
    assert np.isclose(float(decayed.get_layer("fc7").losses[0]), penalty, rtol=1e-4)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_lighting_and_normalization_give_float32_results_under_mixed_precision(policy: str) -> None:
    """Mixed precision starts at conv1: the input layers and the softmax compute in float32."""
    from alexnet_pipeline.training.lighting import PCALighting

    images = np.random.default_rng(3).integers(0, 256, (4, 67, 67, 3)).astype("uint8")

    def outputs(policy_name: str) -> list[np.ndarray]:
        keras.mixed_precision.set_global_policy(policy_name)
        try:
            lighting = PCALighting(0.1, [30.0, 5.0, 1.0], [[0.6, 0.7, 0.4], [0.6, -0.1, -0.8], [0.5, -0.7, 0.5]],
                                   seed=7, name="pca_lighting")
            model = build_alexnet(3, 67, variant="bn", seed=1, channel_mean=MEAN, channel_std=STD,
                                  augment=[lighting])
        finally:
            keras.mixed_precision.set_global_policy("float32")
        stem = keras.Model(model.input, [model.get_layer(name).output for name in ("pca_lighting", "normalize")])
        assert model.get_layer("conv1").compute_dtype == policy_name.removeprefix("mixed_")
        assert model.get_layer("predictions").compute_dtype == "float32" == model.output.dtype
        return [np.asarray(x) for x in stem(images, training=True)]

    reference, mixed = outputs("float32"), outputs(policy)
    for name, want, got in zip(("pca_lighting", "normalize"), reference, mixed, strict=True):
        assert got.dtype == np.float32, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert not np.array_equal(reference[0], images)  # the lighting did shift the colours
