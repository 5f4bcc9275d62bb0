"""Recipes: the paper's values, the optimizers, warm-up and plateau drops of the learning rate."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from alexnet_pipeline.config import PlateauConfig, load_params
from alexnet_pipeline.training import recipes
from tests.helpers import SHIPPED_PARAMS

SHIPPED = load_params(SHIPPED_PARAMS).train


def _cfg(**changes):
    return SHIPPED.model_copy(update=changes)


def test_custom_recipe_keeps_every_knob() -> None:
    assert recipes.effective(SHIPPED) is SHIPPED


def test_paper_recipe_sets_the_papers_values() -> None:
    paper = recipes.effective(_cfg(recipe="paper", learning_rate=0.5, batch_size=4, epochs=7))
    assert (paper.optimizer, paper.learning_rate, paper.momentum, paper.weight_decay, paper.batch_size) == (
        "sgd", 0.01, 0.9, 0.0005, 128)
    assert paper.lr_plateau == PlateauConfig(patience=2, factor=0.1, max_drops=3)
    assert paper.epochs == 7  # how long to train stays the user's


def test_optimizers() -> None:
    sgd = recipes.make_optimizer(_cfg(optimizer="sgd", learning_rate=0.01, momentum=0.9))
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.9
    adam = recipes.make_optimizer(_cfg(optimizer="adam"))
    assert isinstance(adam, keras.optimizers.Adam)
    assert float(adam.learning_rate) == pytest.approx(SHIPPED.learning_rate)


def test_warmup_ramps_linearly_then_holds() -> None:
    control = recipes.LearningRateControl(_cfg(learning_rate=0.1, warmup_epochs=2), steps_per_epoch=5)
    rates = [control.rate(step) for step in range(12)]
    assert rates[0] == pytest.approx(0.01) and rates[4] == pytest.approx(0.05)
    assert rates[9] == pytest.approx(0.1) and rates[11] == pytest.approx(0.1)
    assert np.all(np.diff(rates[:10]) > 0)


def test_plateau_divides_the_rate_at_most_max_drops_times_and_its_state_survives() -> None:
    control = recipes.LearningRateControl(
        _cfg(learning_rate=1.0, lr_plateau=PlateauConfig(patience=2, factor=0.1, max_drops=2)), steps_per_epoch=1)
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    seen = []
    for epoch, loss in enumerate(losses):
        logs = {"val_loss": loss}
        control.on_epoch_end(epoch, logs)
        seen.append(control.drops)
    assert seen == [0, 0, 0, 1, 1, 2, 2, 2]  # two epochs without a better loss, then a drop; at most 2
    assert control.rate(100) == pytest.approx(0.01)
    resumed = recipes.LearningRateControl(_cfg(learning_rate=1.0), steps_per_epoch=1)
    resumed.restore(control.state())
    assert resumed.rate(100) == pytest.approx(0.01) and resumed.best == 0.9


def test_rate_is_applied_to_the_optimizer_each_step() -> None:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    control = recipes.LearningRateControl(_cfg(learning_rate=0.2, warmup_epochs=1), steps_per_epoch=4)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: seen.append(float(model.optimizer.learning_rate)))
    history = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, epochs=2, callbacks=[control, record],
                        verbose=0)
    assert seen == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2, 0.2, 0.2, 0.2])  # a linear ramp over epoch 1
    assert history.history["learning_rate"] == pytest.approx([0.2, 0.2])
