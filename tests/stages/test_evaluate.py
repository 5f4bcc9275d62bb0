"""evaluate: predictions over the test shards and the actual/predicted rows for dvc plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet_pipeline.config import load_params
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.model import build_alexnet
from alexnet_pipeline.reader import make_dataset
from alexnet_pipeline.tfrecords import ShardFormat
from stages.evaluate import confusion_rows, main, predict_dataset
from tests.helpers import noise_array, write_params, write_test_shards


def test_confusion_rows_one_row_per_example() -> None:
    true = np.array([0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    assert confusion_rows(true, probabilities, ["cat", "dog"]) == (
        "actual,predicted\ncat,cat\ndog,cat\ndog,dog\n")


def test_predict_dataset_covers_every_test_example(tmp_path: Path) -> None:
    labels = [0, 1, 1, 0, 1]
    files = write_test_shards(tmp_path, "test", [(Image.fromarray(noise_array(76, 76, seed=i)), label,
                                                  f"test/x/{i}.jpg") for i, label in enumerate(labels)], 2)
    dataset = make_dataset(files, ShardFormat("jpeg", 76, 67), 2, training=False, seed=0)
    model = build_alexnet(2, 67, seed=0, channel_mean=[127.0] * 3, channel_std=[74.0] * 3)
    true, probabilities = predict_dataset(model, dataset)
    assert sorted(true.tolist()) == sorted(labels)
    assert probabilities.shape == (5, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_main_without_test_shards_is_a_clean_error(tmp_path: Path) -> None:
    params = load_params(write_params(tmp_path))
    params.paths.processed.mkdir(parents=True)
    with pytest.raises(PipelineError, match="no test shards"):
        main(params)
    assert not params.paths.metrics.exists()
