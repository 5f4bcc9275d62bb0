"""contracts: the files passed between stages are checked when written and when read, and a
missing or malformed one is an error naming the file and the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alexnet_pipeline.core.contracts import (
    ClassNames,
    ContractError,
    EvaluationMetrics,
    ImageStats,
    ShardLayout,
    SourceRecord,
    SplitRow,
    read_contract,
    read_rows,
    write_contract,
    write_rows,
)
from tests.helpers import REPO_ROOT

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


RERUN = "rerun the stage that writes it (dvc repro --force STAGE)"
ROWS = [{"path": "cats/1.jpg", "split": "train", "label": "cats"},
        {"path": "dogs/a, b.jpg", "split": "test", "label": "dogs"}]


def test_a_malformed_file_message_in_full(tmp_path: Path) -> None:
    path = tmp_path / "stats.json"
    path.write_text(json.dumps({**STATS, "pixels": "many"}))
    with pytest.raises(ContractError) as caught:
        read_contract(ImageStats, path)
    assert str(caught.value) == f"{path}: not valid: `pixels` input should be a valid integer, unable to " \
                                f"parse string as an integer; {RERUN}"


def test_a_whole_file_of_the_wrong_shape_is_named_without_a_field(tmp_path: Path) -> None:
    """A bare-list file holding a mapping: the problem is the file itself, at no field."""
    path = tmp_path / "classes.json"
    path.write_text(json.dumps({"cats": 0}))
    with pytest.raises(ContractError) as caught:
        read_contract(ClassNames, path)
    assert str(caught.value) == f"{path}: not valid: input should be a valid array; {RERUN}"
    with pytest.raises(ContractError) as caught:
        write_contract(path, ClassNames, {"cats": 0})
    assert str(caught.value) == f"{path}: refusing to write it: input should be a valid list"


def test_the_writer_returns_the_checked_model(tmp_path: Path) -> None:
    written = write_contract(tmp_path / "classes.json", ClassNames, ["cats", "dogs"])
    assert written == ClassNames(["cats", "dogs"])


def test_rows_are_written_as_csv_in_the_models_column_order_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "split_table.csv"
    written = write_rows(path, SplitRow, [{"label": row["label"], "split": row["split"], "path": row["path"]}
                                          for row in ROWS])
    assert path.read_bytes() == b'path,split,label\ncats/1.jpg,train,cats\n"dogs/a, b.jpg",test,dogs\n'
    assert written == [SplitRow(**row) for row in ROWS]
    assert read_rows(SplitRow, path) == written


def test_no_rows_is_a_header_only_table(tmp_path: Path) -> None:
    path = tmp_path / "split_table.csv"
    assert write_rows(path, SplitRow, []) == []
    assert path.read_bytes() == b"path,split,label\n"
    assert read_rows(SplitRow, path) == []


def test_the_row_writer_names_the_bad_row_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "split_table.csv"
    with pytest.raises(ContractError) as caught:
        write_rows(path, SplitRow, [ROWS[0], {**ROWS[1], "split": "dev"}])
    assert str(caught.value) == (f"{path}: refusing to write row 2: `split` input should be 'train', 'val' "
                                 "or 'test'")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_table_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "split_table.csv"
    with pytest.raises(ContractError) as caught:
        read_rows(SplitRow, path)
    assert str(caught.value) == f"{path}: not found; run the earlier stages first (dvc repro)"


@pytest.mark.parametrize(("text", "problem"), [
    ("path,split,label,extra\na,train,b,c\n", "unknown column `extra`"),
    ("path,label\na,b\n", "missing column `split`"),
    ("path,kind,label\na,train,b\n", "unknown column `kind`, missing column `split`"),
    ("", "missing column `path`, missing column `split`, missing column `label`"),
    ("path,split,label\na,train,cats\nb,test\n", "line 3 does not have 3 values, one a column"),
    ("path,split,label\na,train,cats,more\n", "line 2 does not have 3 values, one a column"),
    ("path,split,label\na,train,cats\nb,dev,dogs\n", "line 3: `split` input should be 'train', 'val' or 'test'"),
])
def test_a_malformed_table_names_the_file_the_line_and_the_column(tmp_path: Path, text: str,
                                                                   problem: str) -> None:
    path = tmp_path / "split_table.csv"
    path.write_text(text)
    with pytest.raises(ContractError) as caught:
        read_rows(SplitRow, path)
    assert str(caught.value) == f"{path}: not valid: {problem}; {RERUN}"


def test_files_are_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    """Non-ASCII class names read back in this process and in one whose locale is ASCII (the JSON
    file as another tool may write it, with the letters themselves rather than escapes)."""
    names = ["chats", "épagneuls", "über"]
    (tmp_path / "classes.json").write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")
    write_rows(tmp_path / "split_table.csv", SplitRow, [{"path": f"{name}/1.jpg", "split": "train",
                                                          "label": name} for name in names])
    assert read_contract(ClassNames, tmp_path / "classes.json").root == names
    assert [row.label for row in read_rows(SplitRow, tmp_path / "split_table.csv")] == names
    code = ("import sys; from pathlib import Path; "
            "from alexnet_pipeline.core.contracts import ClassNames, SplitRow, read_contract, read_rows; "
            "folder = Path(sys.argv[1]); "
            "names = read_contract(ClassNames, folder / 'classes.json').root; "
            "labels = [row.label for row in read_rows(SplitRow, folder / 'split_table.csv')]; "
            "sys.stdout.buffer.write(','.join(names + labels).encode('utf-8'))")
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    shown = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO_ROOT, env=env,
                           capture_output=True, check=True)
    assert shown.stdout.decode("utf-8").split(",") == names + names
