"""validate: planted bad files are each reported with a reason; `fail` stops, `quarantine` goes on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.artifacts import LAYOUT_FILE, MANIFEST_FILE
from alexnet_pipeline.core.stage_runner import run_stage
from alexnet_pipeline.input.tfrecords import FEATURES
from alexnet_pipeline.sources.layout import find_images
from alexnet_pipeline.validation.findings import ValidationResult, failure_summary
from alexnet_pipeline.validation.manifest import build_manifest
from stages import preprocess as preprocess_stage
from stages import validate as validate_stage
from tests.helpers import (
    SHARED_DATASETS,
    run,
    write_image,
    write_params,
    write_png_bomb,
    write_truncated_jpeg,
)

GOOD = ["test/cat/t0.jpg", "test/dog/t0.jpg",
        "train/cat/g0.jpg", "train/cat/g1.jpg", "train/cat/g2.jpg",
        "train/dog/g0.jpg", "train/dog/g1.jpg", "train/dog/g2.jpg"]
# planted bad file -> a phrase its reason must contain
BAD = {
    "train/cat/truncated.jpg": "corrupt or truncated image",
    "train/cat/empty.jpg": "empty file (0 bytes)",
    "train/dog/notes.jpg": "not an image",
    "train/dog/tiny.jpg": "width is 8",
    "train/dog/bomb.png": "decompression bomb",
    "train/cat/outside.jpg": "outside the dataset: not read",
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
    write_png_bomb(raw / "train/dog/bomb.png")
    secret = write_image(raw.parent / "elsewhere" / "secret.jpg")
    (raw / "train/cat/outside.jpg").symlink_to(secret)
    write_image(raw / "test/cat/anim.gif", size=(40, 40), fmt="GIF")
    (raw / "train/cat/.DS_Store").write_bytes(b"junk")
    write_image(raw / "__MACOSX/train/cat/._g0.jpg")
    (raw / LAYOUT_FILE).write_text(json.dumps({"source": "local", "splits": {}, "classes": [], "rejected": []}))


def _project(root: Path, **overrides: object) -> Path:
    """A project folder with the planted dataset in data/raw and a params.yaml pointing at it."""
    _plant(root / "data" / "raw")
    return write_params(root, validate__allowed_formats=FORMATS, **overrides)


def _report(root: Path) -> dict:
    return json.loads((root / "reports" / "validation.json").read_text())


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> ValidationResult:
    root = tmp_path_factory.mktemp("planted")
    params = load_params(_project(root))
    manifest = build_manifest(find_images(params.paths.raw), params.paths.raw)
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
    # .DS_Store and __MACOSX are ignored, not counted
    assert report["counts"] == {"files": len(GOOD) + len(BAD), "invalid": len(BAD), "duplicates": 0,
                                "leaked": 0, "dropped": 0, "usable": len(GOOD),
                                "by_split": {"test": {"cat": 1, "dog": 1},
                                             "train": {"cat": 3, "dog": 3}}}
    assert not planted.files_ok and planted.classes_ok
    failed = {e["column"] for e in report["expectations"] if not e["success"]}
    assert failed == {"ok", "format", "width", "height", "sha256"}  # sha256: the unread link
    json.dumps(report)  # the report is plain JSON


def test_failure_summary_names_the_files_and_the_way_out(planted) -> None:
    cfg = load_params(write_params(Path("/nowhere"))).validate
    summary = failure_summary(planted, "reports/validation.json", cfg)
    assert summary.startswith(f"validation failed: {len(BAD)} of {len(GOOD) + len(BAD)} files")
    for path in BAD:
        assert path in summary
    assert "on_invalid: quarantine" in summary and "reports/validation.json" in summary


def test_clean_dataset_passes(tmp_path: Path) -> None:
    for i, relpath in enumerate(GOOD):
        write_image(tmp_path / "data" / "raw" / relpath, size=(40, 40), seed=i)
    params = load_params(write_params(tmp_path, validate__allowed_formats=FORMATS))
    result = validate_stage.validate(build_manifest(find_images(params.paths.raw), params.paths.raw),
                                     params.validate)
    assert result.report["success"] is True and result.report["invalid"] == []
    assert len(result.usable) == len(GOOD)


def test_stage_with_on_invalid_fail_exits_nonzero_with_a_readable_message(tmp_path: Path) -> None:
    params_file = _project(tmp_path, validate__on_invalid="fail")
    done = run([sys.executable, "-m", "stages.validate", "--params", str(params_file)],
                       cwd=tmp_path, check=False)
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
    done = run([sys.executable, "-m", "stages.validate", "--params", str(params_file)],
                       cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for path in BAD:
        assert f"quarantined {path}" in done.stderr
    manifest = pd.read_csv(tmp_path / "data" / "validated" / MANIFEST_FILE)
    assert sorted(manifest["path"]) == sorted(GOOD)
    assert manifest["ok"].all()
    report = _report(tmp_path)
    assert report["success"] is False and report["policies"]["on_invalid"] == "quarantine"
    assert sorted(item["path"] for item in report["invalid"]) == sorted(BAD)
    # no temporary folders or files left next to the outputs
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["elsewhere", "raw", "validated"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["data_docs", "validation.json"]
    assert report["data_docs"] == str(tmp_path / "reports" / "data_docs" / "index.html")
    assert (tmp_path / "reports" / "data_docs" / "index.html").is_file()


def _run_in_process(params_file: Path) -> None:
    run_stage("validate", validate_stage.main, argv=["--params", str(params_file)])


def test_class_with_too_few_images_fails_even_with_quarantine(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "data" / "raw"
    for i in range(3):
        write_image(raw / f"train/cat/{i}.jpg", seed=i)
    write_image(raw / "train/dog/0.jpg", seed=10)
    write_image(raw / "test/dog/0.jpg", seed=11)
    write_image(raw / "test/cat/0.jpg", seed=12)
    params_file = write_params(tmp_path, validate__on_invalid="quarantine",
                               validate__min_images_per_class=2)
    with pytest.raises(SystemExit) as info:
        _run_in_process(params_file)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "error: validate: validation failed" in err and "dog (1)" in err and "cat (" not in err
    classes = {e["column"]: e for e in _report(tmp_path)["class_expectations"]}
    assert classes["count"]["success"] is False and classes["count"]["failing_classes"] == {"dog": 1}
    assert not (tmp_path / "data" / "validated").exists()


def test_class_whose_train_images_are_all_quarantined_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Its test images remain; going on would leave preprocess a test class it cannot index."""
    raw = tmp_path / "data" / "raw"
    for seed, label in enumerate(("cat", "dog")):
        for i in range(2):
            write_image(raw / f"train/{label}/{i}.jpg", seed=10 * seed + i)
        write_image(raw / f"test/{label}/0.jpg", seed=10 * seed + 5)
    (raw / "train/fox").mkdir(parents=True)
    (raw / "train/fox/0.jpg").write_bytes(b"")
    write_image(raw / "test/fox/0.jpg", seed=99)
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


def _two_class_raw(raw: Path) -> None:
    """A clean dataset: 3 train and 1 test image per class, every file distinct."""
    for offset, label in enumerate(("cat", "dog")):
        for i in range(3):
            write_image(raw / f"train/{label}/{i}.jpg", seed=100 * offset + i)
        write_image(raw / f"test/{label}/t.jpg", seed=100 * offset + 50)


def test_train_photo_copied_into_test_is_leakage_that_fails_by_default(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "data" / "raw"
    _two_class_raw(raw)
    (raw / "test/cat/copy.jpg").write_bytes((raw / "train/cat/1.jpg").read_bytes())
    with pytest.raises(SystemExit):
        _run_in_process(write_params(tmp_path))
    err = capsys.readouterr().err
    assert "1 files of a later split repeat an earlier split's file (leakage)" in err
    assert "test/cat/copy.jpg: same as train/cat/1.jpg" in err and "on_leakage: drop" in err
    report = _report(tmp_path)
    assert report["leakage"] == [{"path": "test/cat/copy.jpg", "split": "test",
                                  "same_as": "train/cat/1.jpg", "dropped": False}]
    leak_rule = [e for e in report["expectations"] if e["expectation"] == "expect_column_values_to_be_unique"]
    assert leak_rule[0]["success"] is False and leak_rule[0]["unexpected_count"] == 2
    assert not (tmp_path / "data" / "validated").exists()


def test_leakage_drop_leaves_the_test_copy_out(tmp_path: Path) -> None:
    raw = tmp_path / "data" / "raw"
    _two_class_raw(raw)
    (raw / "test/cat/copy.jpg").write_bytes((raw / "train/cat/1.jpg").read_bytes())
    _run_in_process(write_params(tmp_path, validate__on_leakage="drop"))
    manifest = pd.read_csv(tmp_path / "data" / "validated" / MANIFEST_FILE)
    assert "test/cat/copy.jpg" not in set(manifest["path"]) and "train/cat/1.jpg" in set(manifest["path"])
    report = _report(tmp_path)
    assert report["counts"]["leaked"] == 1 and report["counts"]["dropped"] == 1
    assert report["leakage"][0]["dropped"] is True


@pytest.mark.parametrize(("policy", "kept"), [("drop", False), ("keep", True)])
def test_duplicates_within_a_split_are_dropped_or_kept(tmp_path: Path, policy: str, kept: bool) -> None:
    raw = tmp_path / "data" / "raw"
    _two_class_raw(raw)
    (raw / "train/dog/again.jpg").write_bytes((raw / "train/dog/0.jpg").read_bytes())
    _run_in_process(write_params(tmp_path, validate__on_duplicate=policy))
    paths = set(pd.read_csv(tmp_path / "data" / "validated" / MANIFEST_FILE)["path"])
    assert "train/dog/0.jpg" in paths and ("train/dog/again.jpg" in paths) is kept
    report = _report(tmp_path)
    assert report["duplicates"] == [{"path": "train/dog/again.jpg", "split": "train",
                                     "same_as": "train/dog/0.jpg", "dropped": not kept}]
    assert report["leakage"] == []


def test_duplicates_fail_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "data" / "raw"
    _two_class_raw(raw)
    (raw / "train/dog/again.jpg").write_bytes((raw / "train/dog/0.jpg").read_bytes())
    with pytest.raises(SystemExit):
        _run_in_process(write_params(tmp_path, validate__on_duplicate="fail"))
    assert "train/dog/again.jpg: same as train/dog/0.jpg" in capsys.readouterr().err


def test_a_class_missing_from_test_fails_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "data" / "raw"
    _two_class_raw(raw)
    (raw / "test/dog/t.jpg").unlink()
    with pytest.raises(SystemExit):
        _run_in_process(write_params(tmp_path))
    assert "every train class has images in test; none in: test/dog" in capsys.readouterr().err


def test_imbalance_beyond_the_limit_fails(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "data" / "raw"
    _two_class_raw(raw)
    for i in range(3, 9):
        write_image(raw / f"train/cat/{i}.jpg", seed=500 + i)
    with pytest.raises(SystemExit):
        _run_in_process(write_params(tmp_path, validate__max_class_imbalance=2))
    assert "dog (3.0)" in capsys.readouterr().err  # cat has 9, dog 3


def _awkward_files(folder: Path) -> None:
    """Valid files that trip naive loaders: CMYK, grayscale, palette, alpha, GIF, WebP, an
    upper-case extension, no extension, and a JPEG stored upside down with EXIF orientation 3."""
    folder.mkdir(parents=True)
    Image.new("CMYK", (48, 48), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    Image.new("L", (48, 48), 128).save(folder / "gray.jpg")
    Image.new("RGB", (48, 48), (0, 200, 0)).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    Image.new("RGBA", (48, 48), (0, 0, 255, 128)).save(folder / "alpha.png")
    Image.new("RGB", (48, 48), (250, 250, 0)).save(folder / "anim.gif")
    Image.new("RGB", (48, 48), (0, 250, 250)).save(folder / "photo.webp")
    write_image(folder / "UPPER.JPG", size=(48, 40), seed=7)
    write_image(folder / "noextension", size=(40, 48), seed=8)
    stored = Image.new("RGB", (64, 64), (255, 0, 0))
    stored.paste((0, 0, 255), (0, 32, 64, 64))  # stored: red on top, blue below
    exif = Image.Exif()
    exif[0x0112] = 3  # display rotated by 180 degrees: blue on top
    stored.save(folder / "rotated.jpg", exif=exif, quality=95)


def test_awkward_but_valid_files_are_accepted_and_preprocessed_upright_rgb(tmp_path: Path) -> None:
    raw = tmp_path / "data" / "raw"
    _awkward_files(raw / "train" / "odd")
    for i in range(3):
        write_image(raw / f"train/plain/{i}.jpg", seed=i)
    write_image(raw / "test/odd/t.jpg", seed=20)
    write_image(raw / "test/plain/t.jpg", seed=21)
    params = load_params(write_params(tmp_path, base__image_size=67, preprocess__val_fraction=0.1,
                                      preprocess__resize="crop"))
    validate_stage.main(params)
    manifest = pd.read_csv(params.paths.validated / MANIFEST_FILE)
    assert manifest["ok"].all() and len(manifest) == 9 + 3 + 2
    formats = dict(zip(manifest["path"], manifest["format"], strict=True))
    assert formats["train/odd/noextension"] == "JPEG" and formats["train/odd/photo.webp"] == "WEBP"
    assert dict(zip(manifest["path"], manifest["mode"], strict=True))["train/odd/cmyk.jpg"] == "CMYK"
    assert dict(zip(manifest["path"], manifest["exif_orientation"], strict=True))["train/odd/rotated.jpg"] == 3
    preprocess_stage.main(params)
    images = {}
    for record in tf.data.TFRecordDataset(sorted(str(p) for p in params.paths.processed.glob("*.tfrecord"))):
        example = tf.io.parse_single_example(record, FEATURES)
        images[example["key"].numpy().decode()] = tf.io.decode_jpeg(example["image"]).numpy()
    assert set(images) == set(manifest["path"])
    assert all(image.shape == (67, 67, 3) for image in images.values())
    rotated = images["train/odd/rotated.jpg"].astype(int)
    assert rotated[5, 33, 2] > 200 and rotated[5, 33, 0] < 60  # blue on top: upright
    assert rotated[60, 33, 0] > 200 and rotated[60, 33, 2] < 60  # red below
    cmyk = images["train/odd/cmyk.jpg"].astype(int)[33, 33]
    assert cmyk[0] > 200 and cmyk[1] < 60 and cmyk[2] < 60  # CMYK (0, 255, 255, 0) is red
    alpha = images["train/odd/alpha.png"].astype(int)[33, 33]
    assert abs(alpha[0] - 127) < 10 and alpha[2] > 240  # half-transparent blue over white


def test_files_download_refused_are_reported_invalid(tmp_path: Path) -> None:
    raw = tmp_path / "data" / "raw"
    _two_class_raw(raw)
    refused = {"path": "train/dog/link.jpg", "split": "train", "label": "dog",
               "reason": "symbolic link to /etc/passwd, outside the dataset: not read"}
    (raw / LAYOUT_FILE).write_text(json.dumps({"source": "local", "splits": {}, "classes": [], "rejected": [refused]}))
    _run_in_process(write_params(tmp_path, validate__on_invalid="quarantine"))
    report = _report(tmp_path)
    assert report["invalid"] == [{"path": refused["path"], "reason": refused["reason"]}]
    assert report["counts"]["files"] == 9 and report["counts"]["usable"] == 8


MONKEY10 = SHARED_DATASETS / "monkey10"


@pytest.mark.skipif(not MONKEY10.is_dir(), reason="../shared/datasets absent")
def test_shared_monkey10_findings() -> None:
    """Its quirks: a PNG, a file without extension, and duplicate pairs inside its splits."""
    params = load_params(write_params(Path("/nowhere")))
    manifest = build_manifest(find_images(MONKEY10), MONKEY10, workers=2)
    result = validate_stage.validate(manifest, params.validate)
    report = result.report
    assert report["invalid"] == [] and report["leakage"] == []
    formats = dict(zip(manifest["path"], manifest["format"], strict=True))
    assert formats["train/nilgiri_langur/n9160.png"] == "PNG"
    assert formats["train/nilgiri_langur/n9151jpg"] == "JPEG"  # no extension: judged by content
    assert report["counts"]["duplicates"] > 0
    assert {d["split"] for d in report["duplicates"]} >= {"train"}
    assert all(d["dropped"] for d in report["duplicates"])  # on_duplicate: drop, the default
    assert len(result.usable) == len(manifest) - report["counts"]["duplicates"]
    assert sorted(report["counts"]["by_split"]) == ["test", "train"]  # validation/ serves as test
