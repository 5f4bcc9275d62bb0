"""The `alexnet` command: readable errors, one naming of options, output that is only what was
asked for, and one JSON line per predicted image."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest

from alexnet_pipeline import cli
from alexnet_pipeline.training.model import build_alexnet
from tests.helpers import run, subprocess_env, write_image, write_params

ALEXNET = Path(sys.executable).parent / "alexnet"  # the console script of this environment


def _project(root: Path) -> Path:
    """A project folder whose params.yaml uses the shipped relative paths and 67 px images."""
    params = write_params(root, base__image_size=67)
    text = params.read_text().replace(str(root) + "/", "")  # keep the shipped relative paths
    params.write_text(text)
    return params


def _unquieted_env() -> dict[str, str]:
    """The environment of a user's shell: TensorFlow's log level not set (make sets it)."""
    env = subprocess_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL")
    return env


def test_console_script_predict_without_a_model_is_a_clean_error(tmp_path: Path) -> None:
    _project(tmp_path)
    image = write_image(tmp_path / "cat.jpg")
    done = run([str(ALEXNET), "predict", str(image)], cwd=tmp_path, check=False, env=_unquieted_env())
    assert done.returncode == 1
    # evaluate.model: best; TensorFlow was imported, and its C++ start-up log (oneDNN, CPU features) is quiet
    assert done.stderr == "error: models/alexnet.best.keras: not found; train a model first (make run)\n"
    assert done.stdout == ""


def test_project_dir_names_the_project_from_elsewhere(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _project(tmp_path / "project")
    image = write_image(tmp_path / "cat.jpg")
    assert _main(["predict", str(image), "--project-dir", "project"]) == 1
    # the default model is the project's, named as the user would write it from here
    assert capsys.readouterr().err == ("error: project/models/alexnet.best.keras: not found; train a model "
                                       "first (make run)\n")
    assert _main(["models", "--project-dir", "missing"]) == 1
    assert capsys.readouterr().err == "error: --project-dir missing: not a folder; pass the project root\n"


def test_models_prints_its_table_and_does_not_load_tensorflow(tmp_path: Path) -> None:
    """`alexnet models` as the console script runs it (its entry point, in a fresh interpreter)."""
    _project(tmp_path)
    run(["git", "init", "-q"], tmp_path)
    code = ("import sys\nfrom alexnet_pipeline import cli\ntry:\n    cli.main(['models'])\n"
            "except SystemExit:\n    print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = run([sys.executable, "-c", code], cwd=tmp_path, env=_unquieted_env())
    assert done.stdout.splitlines() == ["version    stages       commit     accuracy  registered                 model card",
                                        "no model is blessed or registered yet", "False False"]
    assert done.stderr == ""


def test_version_and_help_with_examples(capsys) -> None:
    assert _main(["--version"]) == 0
    assert capsys.readouterr().out == f"alexnet {importlib.metadata.version('alexnet-pipeline')}\n"
    assert _main(["--help"]) == 0
    help_text = capsys.readouterr().out
    examples = help_text[help_text.index("\nexamples:\n"):]
    assert "alexnet predict photo.jpg" in examples and "alexnet flow -S train.epochs=2" in examples


@pytest.mark.parametrize("command", ["run", "train-worker", "flow", "deploy", "serve", "predict", "models"])
def test_every_command_takes_project_dir_as_a_path(command: str) -> None:
    parser = cli.build_parser()
    args, _ = parser.parse_known_args([command, "--project-dir", "somewhere", *(["x.jpg"] * (command == "predict"))])
    assert args.project_dir == Path("somewhere")


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
    assert _main(["predict", "x.jpg", "--project-dir", "."]) == 2
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


def test_models_history_rollback_and_card_refuse_clearly(tmp_path: Path, capsys, monkeypatch) -> None:
    """Before any run: no history to list, no version to roll back to; a missing VERSION, a
    missing reason and a time that is not one are errors naming what to give."""
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    assert _main(["models", "history"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == ("no gate decision yet (reports/model_history.jsonl is "
                                                        "empty): run the pipeline first (make run)")
    assert _main(["models", "history", "--at", "2026-12-01T02:00Z", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"at": "2026-12-01T02:00:00+00:00", "serving_version": None,
                                                   "since": None, "data_fingerprint": None, "accuracy": None}
    for argv, message in (
            (["models", "rollback"], "error: alexnet models rollback needs a VERSION (v1.0.0, 1, production or latest)"),
            (["models", "card"], "error: alexnet models card needs a VERSION (v1.0.0, 1, production or latest)"),
            (["models", "rollback", "v1.0.0"], ("error: rollback: give the reason with --reason TEXT; it is kept in "
                                               "the model history")),
            (["models", "history", "--at", "yesterday"], ("error: --at 'yesterday': not a time; give ISO 8601, e.g. "
                                                         "2026-12-01T02:00 (local time) or 2026-12-01T02:00Z (UTC)")),
            (["models", "rollback", "v1.0.0", "--reason", "bad"], ("error: model registry: no alexnet version is "
             f"registered in {tmp_path}; `alexnet models register` registers a committed blessed model"))):
        assert _main(argv) == 1, argv
        assert capsys.readouterr().err.strip() == message
