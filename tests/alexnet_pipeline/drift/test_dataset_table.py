"""The dataset table drift compares: the validated manifest's images in the splits preprocess wrote
in its split table (read through its contract, never assigned again)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from alexnet_pipeline.core.artifacts import SPLIT_TABLE_FILE
from alexnet_pipeline.core.contracts import ContractError, SplitRow, read_rows, write_rows
from alexnet_pipeline.drift.dataset_table import (
    TABLE_COLUMNS,
    StaleSplitError,
    data_fingerprint,
    dataset_table,
    read_table,
    write_table,
)

PATHS = ["train/a/1.png", "train/a/2.png", "train/b/1.png", "test/a/1.png", "test/b/1.png"]
SPLITS = ["train", "val", "train", "test", "test"]
RERUN = "; rerun the stage that writes it (dvc repro --force STAGE)"


def _manifest() -> pd.DataFrame:
    """A validated manifest: every image still in the split it came in (`split` as downloaded)."""
    return pd.DataFrame({"path": PATHS, "split": [p.split("/")[0] for p in PATHS],
                         "label": [p.split("/")[1] for p in PATHS],
                         "sha256": [f"{i:064x}" for i in range(len(PATHS))], "format": "PNG",
                         "width": [40, 41, 42, 43, 44], "height": 50,
                         "brightness": [10.5, 20, 30, 40, 50], "ok": True})


def _rows(splits: list[str], paths: list[str] = PATHS) -> list[SplitRow]:
    return [SplitRow(path=path, split=split, label=path.split("/")[1])
            for path, split in zip(paths, splits, strict=True)]


def test_each_image_takes_the_split_of_the_table_not_the_manifests() -> None:
    table = dataset_table(_manifest(), list(reversed(_rows(SPLITS))))
    assert list(table.columns) == TABLE_COLUMNS
    assert table["path"].tolist() == PATHS  # the manifest's order
    assert table["split"].tolist() == SPLITS
    assert table["width"].tolist() == [40, 41, 42, 43, 44]
    assert table["brightness"].tolist()[0] == 10.5


@pytest.mark.parametrize(("rows", "problem"), [
    (_rows(["train"] * 4, PATHS[:4]), "1 validated image(s) not in it (test/b/1.png)"),
    (_rows(["train"] * 2, PATHS[:2]),  # three named: no "..."
     "3 validated image(s) not in it (test/a/1.png, test/b/1.png, train/b/1.png)"),
    (_rows(["train"] * 6, [*PATHS, "train/b/9.png"]),
     "1 image(s) the manifest lacks (train/b/9.png)"),
    ([*_rows(["train"] * 4, PATHS[:4]), SplitRow(path=PATHS[4], split="test", label="a")],
     "1 image(s) with another label (test/b/1.png)"),
    (_rows(["train"] * 6, [*PATHS, PATHS[0]]), "1 path(s) listed twice"),
    (_rows(["train"], ["x/1.png"]),
     ("5 validated image(s) not in it (test/a/1.png, test/b/1.png, train/a/1.png, ...); "
      "1 image(s) the manifest lacks (x/1.png)")),
])
def test_a_split_table_of_other_images_is_named_as_stale(rows: list[SplitRow],
                                                         problem: str) -> None:
    with pytest.raises(StaleSplitError) as caught:
        dataset_table(_manifest(), rows)
    assert str(caught.value) == (f"preprocess's {SPLIT_TABLE_FILE} does not match the validated "
                                 f"manifest: {problem}; rerun preprocess (dvc repro preprocess)")


def test_the_split_table_round_trips_through_its_contract(tmp_path: Path) -> None:
    path = tmp_path / SPLIT_TABLE_FILE
    written = write_rows(path, SplitRow, [row.model_dump() for row in _rows(SPLITS)])
    assert path.read_text().splitlines()[:2] == ["path,split,label", "train/a/1.png,train,a"]
    assert read_rows(SplitRow, path) == written
    assert not list(tmp_path.glob(".*"))  # written under a temporary name, then renamed


@pytest.mark.parametrize(("text", "problem"), [
    ("path,split,label,extra\nx.png,train,a,1\n", "unknown column `extra`"),
    ("path,label\nx.png,a\n", "missing column `split`"),
    ("path,split,label\nx.png,train,a\ny.png,training,b\n",
     "line 3: `split` input should be 'train', 'val' or 'test'"),
    ("path,split,label\nx.png,train\n", "line 2 does not have 3 values, one a column"),
    ("path,split,label\nx.png,train,a,b\n", "line 2 does not have 3 values, one a column"),
    ("", "missing column `path`, missing column `split`, missing column `label`"),
])
def test_a_malformed_split_table_is_an_error_naming_the_file(tmp_path: Path, text: str,
                                                            problem: str) -> None:
    path = tmp_path / SPLIT_TABLE_FILE
    path.write_text(text)
    expected = f"{path}: not valid: {problem}{RERUN}"
    with pytest.raises(ContractError, match=f"^{re.escape(expected)}$"):
        read_rows(SplitRow, path)


def test_a_missing_split_table_or_a_bad_row_to_write_is_named(tmp_path: Path) -> None:
    path = tmp_path / SPLIT_TABLE_FILE
    with pytest.raises(ContractError,
                       match=f"^{re.escape(str(path))}: not found; run the earlier stages"):
        read_rows(SplitRow, path)
    refused = f"{path}: refusing to write row 2: `split` input should be"
    with pytest.raises(ContractError, match=re.escape(refused)):
        write_rows(path, SplitRow, [{"path": "x", "split": "val", "label": "a"},
                                    {"path": "y", "split": "holdout", "label": "a"}])
    assert not path.exists()


def test_the_reference_table_keeps_strings_and_missing_figures(tmp_path: Path) -> None:
    """Paths, labels, hashes and formats come back as written, even when they (or all of a
    column) look like numbers or like pandas' missing values; a missing size or brightness comes
    back as NaN."""
    table = dataset_table(_manifest(), _rows(["train"] * 3 + ["test"] * 2))
    strings = {"path": "1", "label": "007", "sha256": "1" * 64, "format": "2"}
    for column, value in strings.items():
        table.loc[0, column] = value
    table.loc[1, "label"] = "NA"
    for column in ("width", "height", "brightness"):
        table.loc[2, column] = float("nan")
    write_table(table.assign(extra=1), tmp_path / "reference.csv")
    assert (tmp_path / "reference.csv").read_text().splitlines()[0] == ",".join(TABLE_COLUMNS)
    back = read_table(tmp_path / "reference.csv")
    assert list(back.columns) == TABLE_COLUMNS
    assert back.loc[0, list(strings)].tolist() == list(strings.values())
    assert back.loc[1, "label"] == "NA"
    assert back.loc[2, ["width", "height", "brightness"]].isna().all()
    assert back["width"].tolist()[3:] == [43.0, 44.0]
    assert back["brightness"].tolist()[:2] == [10.5, 20.0]
    numeric_looking = table.assign(path=["1", "2", "3", "4", "5"], label="0",
                                   sha256=[str(10**60 + i) for i in range(5)], format="6")
    write_table(numeric_looking, tmp_path / "digits.csv")
    back = read_table(tmp_path / "digits.csv")
    for column in ("path", "label", "sha256", "format"):
        assert back[column].tolist() == numeric_looking[column].tolist(), column


def test_the_data_fingerprint_follows_content_split_and_class_not_names_or_order() -> None:
    table = dataset_table(_manifest(), _rows(SPLITS))
    fingerprint = data_fingerprint(table)
    assert len(fingerprint) == 64 and fingerprint == data_fingerprint(table.iloc[::-1])
    assert data_fingerprint(table.assign(path=[f"renamed/{i}.png" for i in range(len(table))])) == fingerprint
    changed = [table.assign(split=["test", *table["split"][1:]]),  # one image moved to another split
               table.assign(label=["b", *table["label"][1:]]),  # one image relabelled
               table.assign(sha256=["f" * 64, *table["sha256"][1:]]),  # one image's content changed
               table.iloc[1:]]  # one image gone
    assert len({fingerprint, *map(data_fingerprint, changed)}) == 5
