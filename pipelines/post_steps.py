"""Optional steps after a successful run (flow parameters, off by default): `dvc push` the data
and models to the DVC remote, a git commit of dvc.lock, params.yaml, the metrics and the gate's
reports, and then the blessed model's registration (GTO tags) on that commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.dvc_command import LOCK_FILE, dvc_command
from alexnet_pipeline.errors import PipelineError
from pipelines.commands import run_logged
from pipelines.exits import exit_is_failure
from pipelines.overrides import PARAMS_FILE


class PostStepFailed(PipelineError):
    """`dvc push` or the git commit after the run failed."""


@task(name="dvc push", task_run_name="dvc push", cache_policy=NO_CACHE)
@exit_is_failure
def push_data(project_dir: str) -> None:
    """Upload every stage output to the default DVC remote."""
    argv, env = dvc_command(["push"])
    finished = run_logged(argv, project_dir, env, get_run_logger())
    if finished.returncode != 0:
        raise PostStepFailed(f"dvc push failed (exit {finished.returncode}): {finished.output[-2000:]}\n"
                             "Check the remote: `dvc remote list`; add one with `dvc remote add -d NAME URL`.")


def _git(project_dir: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, check=False)


def _committed_files(project_dir: str) -> list[str]:
    """dvc.lock, params.yaml, the metrics, the gate's and drift's reports and the model history,
    less any the repository ignores."""
    paths = load_params(Path(project_dir) / PARAMS_FILE).paths
    candidates = [LOCK_FILE, PARAMS_FILE, str(paths.metrics), str(paths.gate), str(paths.drift), str(paths.history)]
    ignored = set(_git(project_dir, "check-ignore", *candidates).stdout.split())
    return [name for name in candidates if name not in ignored and (Path(project_dir) / name).exists()]


@task(name="git commit", task_run_name="git commit", cache_policy=NO_CACHE)
@exit_is_failure
def commit_results(project_dir: str, title: str, outcome: dict[str, str]) -> str | None:
    """Commit what this run changed of dvc.lock, params.yaml and the metrics; return the new
    commit's hash, or None when nothing changed."""
    logger = get_run_logger()
    files = _committed_files(project_dir)
    if not files:  # everything is git-ignored: commit nothing rather than whatever else is staged
        logger.warning("git commit: dvc.lock, params.yaml and the metrics are all ignored or missing")
        return None
    added = _git(project_dir, "add", "--", *files)
    if added.returncode != 0:
        raise PostStepFailed(f"git add {' '.join(files)} failed: {added.stderr.strip()}")
    if _git(project_dir, "diff", "--cached", "--quiet", "--", *files).returncode == 0:
        logger.info("git commit: nothing changed in %s", ", ".join(files))
        return None
    changed = ", ".join(f"{stage} ({did})" for stage, did in outcome.items() if did != "skipped")
    committed = _git(project_dir, "commit", "-m", title, "-m", f"Stages: {changed}.", "--", *files)
    if committed.returncode != 0:
        raise PostStepFailed(f"git commit failed: {(committed.stderr or committed.stdout).strip()}\n"
                             "Set git's user.name and user.email for the account that runs the flow.")
    commit = _git(project_dir, "rev-parse", "HEAD").stdout.strip()
    logger.info("git commit %s: %s", commit[:10], ", ".join(files))
    return commit


@task(name="register model", task_run_name="register model", cache_policy=NO_CACHE)
@exit_is_failure
def register_model(project_dir: str) -> str | None:
    """Register the blessed model as a GTO version, with the production stage, on HEAD (the commit
    just made, whose dvc.lock records it); return the version newly registered, or None."""
    from alexnet_pipeline.registry.gto_tags import register_blessed

    project = Path(project_dir)
    version, new = register_blessed(project, project / load_params(project / PARAMS_FILE).paths.blessed)
    get_run_logger().info("model registry: %s", f"registered {version} (production)" if new else
                          f"{version} already registered" if version else "nothing is blessed yet")
    return version if new else None
