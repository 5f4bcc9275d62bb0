"""The `alexnet` command: readable errors, and one JSON line per predicted image."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from alexnet_pipeline import cli
from alexnet_pipeline.training.model import build_alexnet
from tests.helpers import run, write_image, write_params

ALEXNET = Path(sys.executable).parent / "alexnet"  # the console script of this environment


def _project(root: Path) -> Path:
    """A project folder whose params.yaml uses the shipped relative paths and 67 px images."""
    params = write_params(root, base__image_size=67)
    text = params.read_text().replace(str(root) + "/", "")  # keep the shipped relative paths
    params.write_text(text)
    return params


def test_console_script_predict_without_a_model_is_a_clean_error(tmp_path: Path) -> None:
    _project(tmp_path)
    image = write_image(tmp_path / "cat.jpg")
    done = run([str(ALEXNET), "predict", str(image)], cwd=tmp_path, check=False)
    assert done.returncode == 1
    assert "error: models/alexnet.best.keras: not found; train a model first" in done.stderr  # evaluate.model: best
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def _main(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    return info.value.code


def test_missing_params_file_is_a_config_error(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _main(["predict", "x.jpg"]) == 2
    assert capsys.readouterr().err.startswith("error: params.yaml: not found")


def test_bad_params_file_names_the_key(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, train__epochs="ten")
    assert _main(["predict", "x.jpg", "--params", "params.yaml"]) == 2
    assert "`train.epochs` must be an integer" in capsys.readouterr().err


def test_missing_labels_file_is_named(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    model = tmp_path / "m.keras"
    model.write_bytes(b"not looked at: labels are checked first")
    assert _main(["predict", "x.jpg", "--model", str(model)]) == 1
    assert "error: models/labels.json: not found" in capsys.readouterr().err


def test_train_worker_without_a_cluster_says_how_to_train_here(capsys, monkeypatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert _main(["train-worker"]) == 1
    assert "train-worker needs TF_CONFIG naming two or more tasks" in capsys.readouterr().err
    # (two workers on 127.0.0.1: tests/stages/test_train.py)


def test_no_command_is_a_usage_error(capsys) -> None:
    assert _main([]) == 2
    assert "usage: alexnet" in capsys.readouterr().err


def test_predict_prints_one_json_line_per_image(tmp_path: Path, capsys, caplog, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    (tmp_path / "models").mkdir()
    build_alexnet(2, 67, seed=0).save(tmp_path / "models" / "alexnet.best.keras")  # evaluate.model: best
    (tmp_path / "models" / "labels.json").write_text(json.dumps(["cat", "dog"]))
    folder = tmp_path / "photos"
    write_image(folder / "a.jpg", size=(80, 60))
    write_image(folder / "b.png", size=(70, 90), fmt="PNG")

    assert _main(["predict", str(folder), "--top-k", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["path"] for line in lines] == [str(folder / "a.jpg"), str(folder / "b.png")]
    for line in lines:
        [top] = line["top"]
        assert top["label"] in ("cat", "dog") and 0.5 <= top["prob"] <= 1.0

    (folder / "c.jpg").write_text("text")
    assert _main(["predict", str(folder)]) == 1  # a bad file makes the exit status non-zero
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(lines) == 3 and lines[2] == {"path": str(folder / "c.jpg"),
                                            "error": "not an image: Pillow cannot identify its content"}
    assert len(lines[0]["top"]) == 2
    assert "1 of 3 images could not be read" in caplog.text
