"""contracts: the files passed between stages are checked when written and when read, and a
missing or malformed one is an error naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alexnet_pipeline.core.contracts import (
    ClassNames,
    ContractError,
    EvaluationMetrics,
    ImageStats,
    ShardLayout,
    SourceRecord,
    read_contract,
    write_contract,
)

STATS = {"mean": [124.8, 135.7, 114.6], "std": [63.9, 59.8, 51.5], "pixels": 9747,
         "eigenvalues": [4712.1, 3369.9, 2243.2],
         "eigenvectors": [[0.77, -0.55, -0.29], [0.47, 0.82, -0.29], [0.40, 0.09, 0.91]], "image_size": 67}


def test_a_written_file_reads_back_as_its_model_and_keeps_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "stats.json"
    written = write_contract(path, ImageStats, STATS)
    assert path.read_text() == json.dumps(STATS, indent=2) + "\n"
    assert read_contract(ImageStats, path) == written
    assert written.eigenvectors[2][2] == 0.91


def test_a_missing_file_names_itself_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"shards\.json: not found; run the earlier stages first"):
        read_contract(ShardLayout, tmp_path / "shards.json")


@pytest.mark.parametrize(("content", "expected"), [
    ("{not json", r"stats\.json: not valid: invalid json"),
    (json.dumps({**STATS, "pixels": "many"}), r"`pixels` input should be a valid integer"),
    (json.dumps({k: v for k, v in STATS.items() if k != "std"}), r"`std` field required"),
    (json.dumps({**STATS, "median": [1, 2, 3]}), r"`median` extra inputs are not permitted"),
    (json.dumps({**STATS, "eigenvectors": [[0.1, "x", 0.3]]}), r"`eigenvectors\.0\.1` input should be a valid number"),
])
def test_a_malformed_file_names_the_file_and_the_field(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "stats.json"
    path.write_text(content)
    with pytest.raises(ContractError, match=expected) as caught:
        read_contract(ImageStats, path)
    assert "rerun the stage that writes it" in str(caught.value)


def test_the_writer_refuses_content_that_breaks_the_contract_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "shards.json"
    with pytest.raises(ContractError, match=r"shards\.json: refusing to write it: `encoding` input should be "):
        write_contract(path, ShardLayout, {"encoding": "png", "resize": "paper", "image_size": 67,
                                           "stored_size": 76, "jpeg_quality": 95})
    assert list(tmp_path.iterdir()) == []


def test_a_list_file_and_an_open_record(tmp_path: Path) -> None:
    """classes.json is a bare list; the source record keeps each source's own identity fields."""
    write_contract(tmp_path / "classes.json", ClassNames, ["cats", "dogs"])
    assert read_contract(ClassNames, tmp_path / "classes.json").root == ["cats", "dogs"]
    record = {"source": "kaggle", "dataset": "tongpython/cat-and-dog", "version": 1}
    write_contract(tmp_path / "source.json", SourceRecord, record)
    assert read_contract(SourceRecord, tmp_path / "source.json").model_dump() == record
    (tmp_path / "source.json").write_text(json.dumps({"source": "ftp"}))
    with pytest.raises(ContractError, match=r"`source` input should be 'sample', 'local' or 'kaggle'"):
        read_contract(SourceRecord, tmp_path / "source.json")


def test_optional_metrics_stay_absent_rather_than_null(tmp_path: Path) -> None:
    """Four classes: no top-5 accuracy, no ROC AUC; the file must not grow `null`s for them."""
    metrics = {"accuracy": 0.5, "loss": 1.2, "macro_f1": 0.4, "weighted_f1": 0.4, "num_examples": 4,
               "per_class": {"a": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2}},
               "confusion_matrix": [[1, 1], [1, 1]], "confusion_matrix_normalized": [[0.5, 0.5], [0.5, 0.5]],
               "classes": ["a", "b"], "model": {"choice": "best", "path": "m.keras", "epoch": 1,
                                                  "epochs_run": 2, "best_epoch": 1, "best_loss": 1.1}}
    write_contract(tmp_path / "metrics.json", EvaluationMetrics, metrics)
    read = read_contract(EvaluationMetrics, tmp_path / "metrics.json")
    assert read.top5_accuracy is None and "roc_auc" not in read.model_dump(exclude_unset=True)
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
