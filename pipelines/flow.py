"""The Prefect flow `alexnet_pipeline`: one task per DVC stage, run in order through DVC.

DVC stays the one judge of what is stale: each task runs `dvc repro --single-item <stage>`,
which skips an up-to-date stage (`source` always runs: it checks upstream for changes).
Only the stages that do network I/O, source and download, are retried.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from prefect import flow, get_run_logger, task

from alexnet_pipeline.dvc_command import dvc_command
from alexnet_pipeline.errors import PipelineError

STAGES = ("source", "download", "validate", "preprocess", "train", "evaluate", "export", "report")
RETRIED_STAGES = {"source": 2, "download": 2}
SKIPPED_MARK = "didn't change, skipping"


class StageFailed(PipelineError):
    """A DVC stage exited non-zero; the message carries the end of its output."""


def run_dvc_stage(stage: str, project_dir: str) -> str:
    """Run one stage through DVC in `project_dir`; return "ran" or "skipped"."""
    logger = get_run_logger()
    argv, env = dvc_command(["repro", "--single-item", stage])
    completed = subprocess.run(argv, cwd=project_dir, env=env, capture_output=True, text=True,
                               check=False)
    output = (completed.stdout + completed.stderr).strip()
    for line in output.splitlines():
        logger.info(line)
    if completed.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        raise StageFailed(f"stage {stage!r} failed (dvc exit {completed.returncode}):\n{tail}")
    return "skipped" if SKIPPED_MARK in output else "ran"


STAGE_TASKS = {
    stage: task(run_dvc_stage, name=stage, task_run_name=stage,
                retries=RETRIED_STAGES.get(stage, 0), retry_delay_seconds=10)
    for stage in STAGES
}


@flow(name="alexnet_pipeline")
def alexnet_pipeline(project_dir: str = ".") -> dict[str, str]:
    """Bring every stage up to date, in order; return what each did ("ran" or "skipped")."""
    project = str(Path(project_dir).resolve())
    return {stage: STAGE_TASKS[stage](stage, project) for stage in STAGES}
