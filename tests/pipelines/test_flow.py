"""The Prefect flow runs each stage through DVC, which decides what is stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from prefect.testing.utilities import prefect_test_harness

from pipelines.flow import STAGES, StageFailed, alexnet_pipeline
from tests.conftest import make_project, set_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_flow_on_up_to_date_project_runs_nothing(tiny_project: Path, prefect_harness) -> None:
    outcome = alexnet_pipeline(project_dir=str(tiny_project))
    # `source` always runs (it asks whether the data changed upstream); nothing else does
    assert outcome == {stage: "ran" if stage == "source" else "skipped" for stage in STAGES}


def test_flow_reruns_only_what_a_param_change_makes_stale(tiny_project: Path, prefect_harness) -> None:
    set_params(tiny_project, {("report", "title"): "Changed title"})
    outcome = alexnet_pipeline(project_dir=str(tiny_project))
    assert outcome == {stage: "ran" if stage in ("source", "report") else "skipped" for stage in STAGES}
    assert "Changed title" in (tiny_project / "reports/report.html").read_text()


def test_validation_failure_fails_the_flow_with_its_summary(tmp_path: Path, prefect_harness) -> None:
    images = tmp_path / "images"
    for split, count in (("train", 3), ("test", 1)):
        for label, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
            folder = images / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                Image.new("RGB", (64, 64), colour).save(folder / f"{index}.jpg")
    (images / "train" / "red" / "notes.jpg").write_text("not an image")
    project = make_project(tmp_path / "project")
    set_params(project, {("data", "source"): "local", ("data", "local", "path"): str(images)})

    with pytest.raises(StageFailed, match="validate") as failure:
        alexnet_pipeline(project_dir=str(project))
    assert "train/red/notes.jpg: not an image" in str(failure.value)
    assert "validate.on_invalid: quarantine" in str(failure.value)
