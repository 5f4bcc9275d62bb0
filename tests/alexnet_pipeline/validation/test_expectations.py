"""The great-expectations suites over a manifest: each failing rule names its failing rows."""

from __future__ import annotations

import pandas as pd
import pytest

from alexnet_pipeline.config import ValidateConfig
from alexnet_pipeline.validation.expectations import (
    Suites,
    check_classes,
    check_content,
    check_files,
)

CFG = ValidateConfig(on_invalid="fail", on_duplicate="drop", on_leakage="fail",
                     allowed_formats=("JPEG", "PNG"), min_side=32, max_side=1000,
                     min_images_per_class=2, max_class_imbalance=10.0, workers=1)


def _manifest(rows: list[tuple]) -> pd.DataFrame:
    """rows: (path, split, label, format, width, height, ok[, sha256])."""
    frame = pd.DataFrame(
        [{"path": p, "split": s, "label": lab, "format": f, "mode": "RGB" if ok else None, "width": w,
          "height": h, "bytes": 100, "sha256": sha[0] if sha else f"sha-{p}", "ok": ok,
          "reason": "" if ok else "broken"}
         for p, s, lab, f, w, h, ok, *sha in rows])
    for column in ("width", "height", "bytes"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _by_column(outcomes) -> dict[str, object]:
    return {o.column: o for o in outcomes}


def test_clean_manifest_passes_every_file_rule() -> None:
    manifest = _manifest([
        ("train/a/1.jpg", "train", "a", "JPEG", 64, 64, True),
        ("train/b/1.png", "train", "b", "PNG", 32, 1000, True),
        ("test/a/2.jpg", "test", "a", "JPEG", 100, 50, True),
    ])
    outcomes = check_files(manifest, CFG)
    assert {o.column for o in outcomes} == {"ok", "format", "width", "height", "split", "label",
                                            "sha256"}
    assert all(o.success and o.unexpected_count == 0 and o.failing == [] for o in outcomes)


def test_each_file_rule_names_its_failing_paths() -> None:
    manifest = _manifest([
        ("train/a/ok.jpg", "train", "a", "JPEG", 64, 64, True),
        ("train/a/broken.jpg", "train", "a", None, None, None, False),
        ("train/a/anim.gif", "train", "a", "GIF", 64, 64, True),
        ("train/a/narrow.jpg", "train", "a", "JPEG", 8, 64, True),
        ("train/a/huge.jpg", "train", "a", "JPEG", 64, 2000, True),
        ("extra/a/x.jpg", "extra", "a", "JPEG", 64, 64, True),
        ("test/zebra/1.jpg", "test", "zebra", "JPEG", 64, 64, True),
    ])
    outcomes = _by_column(check_files(manifest, CFG))
    # each failing row is named with the value that broke the rule
    assert outcomes["ok"].failing == [("train/a/broken.jpg", False)]
    assert outcomes["format"].failing == [("train/a/anim.gif", "GIF")]  # null format not counted
    assert outcomes["width"].failing == [("train/a/narrow.jpg", 8)]
    assert outcomes["height"].failing == [("train/a/huge.jpg", 2000)]
    assert outcomes["split"].failing == [("extra/a/x.jpg", "extra")]
    assert outcomes["label"].failing == [("test/zebra/1.jpg", "zebra")]
    assert outcomes["sha256"].success
    for column in ("ok", "format", "width", "height", "split", "label"):
        assert not outcomes[column].success and outcomes[column].unexpected_count == 1
    assert "validate.allowed_formats" in outcomes["format"].description
    assert "32..1000" in outcomes["width"].description
    as_json = outcomes["ok"].as_json()
    assert {k: as_json[k] for k in ("expectation", "column", "success", "unexpected_count")} == {
        "expectation": "expect_column_values_to_be_in_set", "column": "ok", "success": False,
        "unexpected_count": 1}
    assert as_json["description"]


def test_class_rule_flags_classes_below_the_minimum() -> None:
    manifest = _manifest([
        ("train/a/1.jpg", "train", "a", "JPEG", 64, 64, True),
        ("train/a/2.jpg", "train", "a", "JPEG", 64, 64, True),
        ("train/b/1.jpg", "train", "b", "JPEG", 64, 64, True),
        ("test/b/2.jpg", "test", "b", "JPEG", 64, 64, True),  # test images do not count
    ])
    outcome = _by_column(check_classes(manifest, CFG))["count"]
    assert not outcome.success and outcome.failing == [("b", 1)]
    relaxed = _by_column(check_classes(manifest, CFG.model_copy(update={"min_images_per_class": 1})))["count"]
    assert relaxed.success and relaxed.failing == []


def test_class_with_no_train_images_left_fails_the_class_rule() -> None:
    """All train images of `c` were removed as invalid; its test image is still there."""
    manifest = _manifest([
        ("train/a/1.jpg", "train", "a", "JPEG", 64, 64, True),
        ("train/a/2.jpg", "train", "a", "JPEG", 64, 64, True),
        ("test/c/1.jpg", "test", "c", "JPEG", 64, 64, True),
    ])
    outcome = _by_column(check_classes(manifest, CFG.model_copy(update={"min_images_per_class": 1})))["count"]
    assert not outcome.success and outcome.failing == [("c", 0)]


@pytest.mark.parametrize("minimum, success", [(3, True), (4, False)])
def test_class_rule_threshold_is_inclusive(minimum: int, success: bool) -> None:
    manifest = _manifest([(f"train/a/{i}.jpg", "train", "a", "JPEG", 64, 64, True) for i in range(3)])
    outcome = _by_column(check_classes(manifest, CFG.model_copy(update={"min_images_per_class": minimum})))
    assert outcome["count"].success is success


def test_imbalance_rule_names_the_small_classes() -> None:
    rows = [(f"train/big/{i}.jpg", "train", "big", "JPEG", 64, 64, True) for i in range(10)]
    rows += [(f"train/mid/{i}.jpg", "train", "mid", "JPEG", 64, 64, True) for i in range(5)]
    rows += [(f"train/small/{i}.jpg", "train", "small", "JPEG", 64, 64, True) for i in range(2)]
    outcome = _by_column(check_classes(_manifest(rows), CFG.model_copy(update={"max_class_imbalance": 4})))
    assert not outcome["imbalance"].success
    assert outcome["imbalance"].failing == [("small", 5.0)]
    relaxed = _by_column(check_classes(_manifest(rows), CFG.model_copy(update={"max_class_imbalance": 5})))
    assert relaxed["imbalance"].success


def test_every_split_must_have_every_train_class() -> None:
    manifest = _manifest([
        ("train/a/1.jpg", "train", "a", "JPEG", 64, 64, True),
        ("train/b/1.jpg", "train", "b", "JPEG", 64, 64, True),
        ("val/a/1.jpg", "val", "a", "JPEG", 64, 64, True),
        ("val/b/1.jpg", "val", "b", "JPEG", 64, 64, True),
        ("test/a/1.jpg", "test", "a", "JPEG", 64, 64, True),  # no b in test
    ])
    outcome = _by_column(check_classes(manifest, CFG.model_copy(update={"min_images_per_class": 1})))["images"]
    assert not outcome.success and outcome.failing == [("test/b", 0)]
    assert outcome.description == "every train class has images in val and test"


def test_content_rules_find_duplicates_within_and_leakage_between_splits() -> None:
    manifest = _manifest([
        ("train/a/1.jpg", "train", "a", "JPEG", 64, 64, True, "same"),
        ("train/a/2.jpg", "train", "a", "JPEG", 64, 64, True, "same"),  # duplicate in train
        ("train/b/1.jpg", "train", "b", "JPEG", 64, 64, True, "photo"),
        ("test/b/1.jpg", "test", "b", "JPEG", 64, 64, True, "photo"),  # train photo in test
        ("test/a/1.jpg", "test", "a", "JPEG", 64, 64, True, "other"),
    ])
    duplicates, leakage = check_content(manifest)
    assert not duplicates.success
    assert sorted(duplicates.failing) == [("train/a/1.jpg", "same"), ("train/a/2.jpg", "same")]
    assert not leakage.success
    assert sorted(leakage.failing) == [("test/b/1.jpg", "photo"), ("train/b/1.jpg", "photo")]
    clean = _manifest([("train/a/1.jpg", "train", "a", "JPEG", 64, 64, True)])
    assert all(o.success for o in check_content(clean))


def test_data_docs_are_built_when_asked(tmp_path) -> None:
    manifest = _manifest([("train/a/1.jpg", "train", "a", "JPEG", 64, 64, True),
                          ("train/a/2.jpg", "train", "a", "GIF", 64, 64, True)])
    suites = Suites(tmp_path / "docs")
    check_files(manifest, CFG, suites)
    check_content(manifest, suites)
    index = (tmp_path / "docs" / "index.html").read_text()
    assert "image_manifest" in index and "duplicates_within_splits" in index
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    assert len(pages) == 3  # one page per suite run
    assert any("train/a/2.jpg" in page.read_text() for page in pages)  # the failing path is shown
