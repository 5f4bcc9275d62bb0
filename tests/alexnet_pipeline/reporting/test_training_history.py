"""training_history: dvclive's per-epoch TSVs read back as the report's curves."""

from __future__ import annotations

from pathlib import Path

from alexnet_pipeline.reporting.training_history import read_history


def test_read_history_parses_dvclive_tsvs(tmp_path: Path) -> None:
    for folder, rows in (("train", "0\t1.5\n1\t0.75\n"), ("eval", "0\t1.6\n")):
        tsv = tmp_path / "plots" / "metrics" / folder / "loss.tsv"
        tsv.parent.mkdir(parents=True)
        tsv.write_text("step\tloss\n" + rows)
    accuracy = tmp_path / "plots" / "metrics" / "train" / "accuracy.tsv"
    accuracy.write_text("timestamp\tstep\taccuracy\n1700000000\t0\t0.25\n")
    assert read_history(tmp_path) == {
        "loss": {"train": [(0, 1.5), (1, 0.75)], "val": [(0, 1.6)]},
        "accuracy": {"train": [(0, 0.25)]},
    }
    assert read_history(tmp_path / "missing") == {}
