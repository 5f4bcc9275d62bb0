"""validate: planted bad files are each reported with a reason; `fail` stops, `quarantine` goes on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from alexnet_pipeline.artifacts import MANIFEST_FILE
from alexnet_pipeline.config import load_params
from alexnet_pipeline.layout import find_images
from alexnet_pipeline.manifest import build_manifest
from alexnet_pipeline.stage_runner import run_stage
from stages import validate as validate_stage
from tests.helpers import run_command, write_image, write_params, write_truncated_jpeg

GOOD = ["test/cat/t0.jpg", "test/dog/t0.jpg",
        "train/cat/g0.jpg", "train/cat/g1.jpg", "train/cat/g2.jpg",
        "train/dog/g0.jpg", "train/dog/g1.jpg", "train/dog/g2.jpg"]
# planted bad file -> a phrase its reason must contain
BAD = {
    "train/cat/truncated.jpg": "corrupt or truncated image",
    "train/cat/empty.jpg": "empty file (0 bytes)",
    "train/dog/notes.jpg": "not an image",
    "train/dog/tiny.jpg": "width is 8",
    "test/cat/anim.gif": "format is GIF",
}
FORMATS = ["JPEG", "PNG"]  # GIF deliberately not allowed


def _plant(raw: Path) -> None:
    for i, relpath in enumerate(GOOD):
        write_image(raw / relpath, size=(40 + i, 36), seed=i)
    write_truncated_jpeg(raw / "train/cat/truncated.jpg")
    (raw / "train/cat/empty.jpg").write_bytes(b"")
    (raw / "train/dog/notes.jpg").write_text("definitely not a JPEG\n")
    write_image(raw / "train/dog/tiny.jpg", size=(8, 8))
    write_image(raw / "test/cat/anim.gif", size=(40, 40), fmt="GIF")


def _project(root: Path, **overrides: object) -> Path:
    """A project folder with the planted dataset in data/raw and a params.yaml pointing at it."""
    _plant(root / "data" / "raw")
    return write_params(root, validate__allowed_formats=FORMATS, **overrides)


def _report(root: Path) -> dict:
    return json.loads((root / "reports" / "validation.json").read_text())


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> validate_stage.ValidationResult:
    root = tmp_path_factory.mktemp("planted")
    params = load_params(_project(root))
    manifest = build_manifest(find_images(params.paths.raw))
    return validate_stage.validate(manifest, params.validate)


def test_every_planted_bad_file_is_invalid_with_its_reason(planted) -> None:
    invalid = {item["path"]: item["reason"] for item in planted.report["invalid"]}
    assert set(invalid) == set(BAD)
    for path, phrase in BAD.items():
        assert phrase in invalid[path], (path, invalid[path])
    assert "height is 8" in invalid["train/dog/tiny.jpg"]  # every broken rule is listed


def test_valid_files_are_usable_and_the_report_fails(planted) -> None:
    assert sorted(planted.usable["path"]) == sorted(GOOD)
    report = planted.report
    assert report["success"] is False
    assert report["counts"] == {"files": len(GOOD) + len(BAD), "valid": len(GOOD),
                                "invalid": len(BAD),
                                "by_split": {"test": {"cat": 1, "dog": 1},
                                             "train": {"cat": 3, "dog": 3}}}
    assert not planted.files_ok and planted.classes_ok
    failed = {e["column"] for e in report["expectations"] if not e["success"]}
    assert failed == {"ok", "format", "width", "height"}
    json.dumps(report)  # the report is plain JSON


def test_failure_summary_names_the_files_and_the_way_out(planted) -> None:
    summary = validate_stage.failure_summary(planted, "reports/validation.json", "fail")
    assert summary.startswith(f"validation failed: {len(BAD)} of {len(GOOD) + len(BAD)} files")
    for path in BAD:
        assert path in summary
    assert "on_invalid: quarantine" in summary and "reports/validation.json" in summary


def test_clean_dataset_passes(tmp_path: Path) -> None:
    for i, relpath in enumerate(GOOD):
        write_image(tmp_path / "data" / "raw" / relpath, size=(40, 40), seed=i)
    params = load_params(write_params(tmp_path, validate__allowed_formats=FORMATS))
    result = validate_stage.validate(build_manifest(find_images(params.paths.raw)), params.validate)
    assert result.report["success"] is True and result.report["invalid"] == []
    assert len(result.usable) == len(GOOD)


def test_stage_with_on_invalid_fail_exits_nonzero_with_a_readable_message(tmp_path: Path) -> None:
    params_file = _project(tmp_path, validate__on_invalid="fail")
    done = run_command([sys.executable, "-m", "stages.validate", "--params", str(params_file)],
                       cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: validate: validation failed: {len(BAD)} of {len(GOOD) + len(BAD)} files" \
        in done.stderr
    for path in BAD:
        assert path in done.stderr
    assert _report(tmp_path)["success"] is False  # the full report is still written
    assert not (tmp_path / "data" / "validated").exists()  # but no manifest for preprocess


def test_stage_with_quarantine_goes_on_without_the_invalid_files(tmp_path: Path) -> None:
    params_file = _project(tmp_path, validate__on_invalid="quarantine")
    done = run_command([sys.executable, "-m", "stages.validate", "--params", str(params_file)],
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for path in BAD:
        assert f"quarantined {path}" in done.stderr
    manifest = pd.read_csv(tmp_path / "data" / "validated" / MANIFEST_FILE)
    assert sorted(manifest["path"]) == sorted(GOOD)
    assert manifest["ok"].all()
    report = _report(tmp_path)
    assert report["success"] is False and report["on_invalid"] == "quarantine"
    assert sorted(item["path"] for item in report["invalid"]) == sorted(BAD)
    # no temporary folders or files left next to the outputs
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw", "validated"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["validation.json"]


def _run_in_process(params_file: Path) -> None:
    run_stage("validate", validate_stage.main, argv=["--params", str(params_file)])


def test_class_with_too_few_images_fails_even_with_quarantine(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "data" / "raw"
    for i in range(3):
        write_image(raw / f"train/cat/{i}.jpg", seed=i)
    write_image(raw / "train/dog/0.jpg")
    write_image(raw / "test/dog/0.jpg")
    params_file = write_params(tmp_path, validate__on_invalid="quarantine",
                               validate__min_images_per_class=2)
    with pytest.raises(SystemExit) as info:
        _run_in_process(params_file)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "error: validate: validation failed" in err and "dog (1)" in err and "cat (" not in err
    [classes] = _report(tmp_path)["class_expectations"]
    assert classes["success"] is False and classes["failing_classes"] == {"dog": 1}
    assert not (tmp_path / "data" / "validated").exists()


def test_class_whose_train_images_are_all_quarantined_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Its test images remain; going on would leave preprocess a test class it cannot index."""
    raw = tmp_path / "data" / "raw"
    for label in ("cat", "dog"):
        for i in range(2):
            write_image(raw / f"train/{label}/{i}.jpg", seed=i)
        write_image(raw / f"test/{label}/0.jpg")
    (raw / "train/fox").mkdir(parents=True)
    (raw / "train/fox/0.jpg").write_bytes(b"")
    write_image(raw / "test/fox/0.jpg")
    params_file = write_params(tmp_path, validate__on_invalid="quarantine",
                               validate__min_images_per_class=1)
    with pytest.raises(SystemExit) as info:
        _run_in_process(params_file)
    assert info.value.code == 1
    assert "fox (0)" in capsys.readouterr().err
    assert not (tmp_path / "data" / "validated").exists()


def test_missing_raw_folder_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params_file = write_params(tmp_path)
    with pytest.raises(SystemExit) as info:
        _run_in_process(params_file)
    assert info.value.code == 1
    assert "dataset folder not found" in capsys.readouterr().err
