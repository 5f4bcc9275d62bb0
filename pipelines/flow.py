"""The Prefect flow `alexnet_pipeline`: one task per DVC stage, run in order through DVC.

DVC stays the one judge of what is stale: each stage task runs `dvc repro --single-item
<stage>`, which skips an up-to-date stage (`source` always runs: it checks upstream for
changes), and streams DVC's output to the task log. What a stage did comes from state, not log
text: the run journal that every stage command writes to (`stage_runner.run_stage`) says
whether its command ran and, if it failed, its own error message; dvc.lock before and after says
whether DVC put other outputs in place without running it (restored from its run cache). Only
`download` is retried, with exponential backoff; `train` has a timeout. Any failure ends the run
Failed with the stage's own message (a failed validation: its summary), never Crashed. When the
gate ran, the run emits its decision and any drift as events (`alerts.announce`), which the
deployment's automations send as alerts, even if a later stage failed. A successful run publishes the metrics table, the gate's decision with the drift summary, and the
report's path as artifacts, then the optional post-steps: `dvc push`, a git commit and, after the
commit, the blessed model's registration as a GTO version. A candidate the gate rejected ends the
run Completed with a "not promoted" message or Failed (`gate.on_reject`).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import yaml
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from prefect.tasks import exponential_backoff

from alexnet_pipeline.config import load_params
from alexnet_pipeline.core.contracts import GateDecision, read_contract
from alexnet_pipeline.core.dvc_command import LOCK_FILE, dvc_command
from alexnet_pipeline.core.stage_runner import JOURNAL_ENV, StageRecord, stage_record
from alexnet_pipeline.errors import ConfigError, PipelineError
from alexnet_pipeline.registry.gate import run_failure
from pipelines import alerts, post_steps, publish
from pipelines.commands import Finished, run_logged
from pipelines.exits import exit_is_failure, quiet_pipeline_errors
from pipelines.overrides import PARAMS_FILE, apply_param_overrides

STAGES = ("source", "download", "validate", "preprocess", "train", "evaluate", "gate", "export", "report")
OUTPUT_LINES = 15  # of DVC's output, shown when the stage recorded no error of its own


class StageFailed(PipelineError):
    """A DVC stage exited non-zero; `text` is the stage's own error message, from the run journal
    (else what DVC's exit status and output say)."""

    def __init__(self, stage: str, text: str) -> None:
        super().__init__(f"stage {stage} failed: {text}")
        self.stage, self.text = stage, text


def stage_error(record: StageRecord, finished: Finished) -> str:
    """Why a stage failed: the error it recorded in the run journal; without one (DVC failed
    before or after the stage's command, or the command died), DVC's exit status and the last
    lines of its output, as they are."""
    if record.error is not None:
        return record.error
    when = ("after the stage's command, which recorded no error" if record.ran
            else "before the stage's command ran")
    return f"dvc exit {finished.returncode} {when}:\n" + "\n".join(finished.tail[-OUTPUT_LINES:])


def locked_state(stage: str, project_dir: str) -> tuple[dict | None, bool]:
    """The stage's entry in dvc.lock (its deps', params' and outs' hashes; None before its first
    run) and whether every output the entry lists is on disk."""
    lock = Path(project_dir) / LOCK_FILE
    entry = ((yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {}).get(stage)
             if lock.is_file() else None)
    present = entry is not None and all((Path(project_dir) / out["path"]).exists()
                                        for out in entry.get("outs", []))
    return entry, present


def outcome(command_ran: bool, outputs_replaced: bool) -> str:
    """What `dvc repro` did to a stage: "ran" its command; "restored" outputs of an earlier run with
    the same inputs from DVC's cache without running it (the lock entry changed, or missing
    outputs came back); or "skipped" an up-to-date stage."""
    if command_ran:
        return "ran"
    return "restored" if outputs_replaced else "skipped"


def repro_stage(stage: str, project_dir: str, logger: logging.Logger | logging.LoggerAdapter) -> str:
    """Bring one stage up to date through DVC in `project_dir`, its output logged to `logger`;
    return what DVC did (`outcome`), from dvc.lock before and after and the run journal. A failed
    stage raises `StageFailed` with the message it recorded in the journal."""
    before, complete = locked_state(stage, project_dir)
    with tempfile.TemporaryDirectory(prefix="alexnet-journal-") as folder:
        journal = Path(folder) / "journal.jsonl"
        argv, env = dvc_command(["repro", "--single-item", stage])
        finished = run_logged(argv, project_dir, {**env, JOURNAL_ENV: str(journal)}, logger)
        record = stage_record(journal, stage)
    if finished.returncode != 0:
        raise StageFailed(stage, stage_error(record, finished))
    after, _ = locked_state(stage, project_dir)
    return outcome(record.ran, outputs_replaced=after != before or not complete)


@exit_is_failure
def run_dvc_stage(stage: str, project_dir: str) -> str:
    """The stage task: `repro_stage` with the task run's logger."""
    return repro_stage(stage, project_dir, get_run_logger())


@task(name="apply overrides", task_run_name="apply overrides", cache_policy=NO_CACHE)
@exit_is_failure
def apply_overrides(project_dir: str, overrides: list[str]) -> dict[str, object]:
    """Write the run's `key=value` overrides into params.yaml (as `dvc exp run -S` does)."""
    changed = apply_param_overrides(Path(project_dir), overrides)
    get_run_logger().info("params.yaml: %s", changed or "already has these values")
    return changed


# Prefect never caches a stage: DVC decides what is stale. The flow sets download's retries
# and train's timeout from its parameters.
STAGE_TASKS = {stage: task(run_dvc_stage, name=stage, task_run_name=stage, cache_policy=NO_CACHE)
               for stage in STAGES}


def _failed(step: str, state: State, train_timeout_s: float | None) -> State:
    """The flow's final state for a failed task: the error's own message, not Prefect's wrapper."""
    if state.name == "TimedOut":
        return Failed(name="TimedOut", message=(
            f"train: stopped after the {train_timeout_s:g} s limit (flow parameter train_timeout_s); "
            "the next run resumes from its last finished epoch"))
    error = state.result(raise_on_failure=False)
    if isinstance(error, StageFailed) and error.stage == "validate":
        return Failed(message=error.text)  # the validation summary, as the stage wrote it
    return Failed(message=str(error) if isinstance(error, BaseException) else f"{step}: {state.message}")


@flow(name="alexnet_pipeline")
@exit_is_failure
def alexnet_pipeline(project_dir: str = ".", overrides: list[str] | None = None, until: str = "report",
                     train_timeout_s: float | None = 6 * 3600.0, download_retries: int = 2,
                     retry_delay_s: float = 30.0, dvc_push: bool = False, git_commit: bool = False,
                     ) -> dict[str, str] | State:
    """Bring every stage up to `until` up to date, in order; return what each did ("ran",
    "skipped" or "restored"). `overrides` are `dvc exp run -S`-style `key=value` changes to params.yaml."""
    quiet_pipeline_errors()
    project = str(Path(project_dir).resolve())
    try:
        if until not in STAGES:
            raise ConfigError(f"until: unknown stage {until!r}; one of {', '.join(STAGES)}")
        load_params(Path(project) / PARAMS_FILE)  # a broken params.yaml stops here, not in a stage
    except PipelineError as exc:
        return Failed(message=str(exc))
    if overrides:
        state = apply_overrides(project, overrides, return_state=True)
        if not state.is_completed():
            return _failed(apply_overrides.name, state, train_timeout_s)
    options = {
        "download": {"retries": download_retries, "retry_jitter_factor": 0.2,
                     "retry_delay_seconds": exponential_backoff(backoff_factor=retry_delay_s)},
        "train": {"timeout_seconds": train_timeout_s},
    }
    outcome: dict[str, str] = {}
    failure: State | None = None
    for stage in STAGES[:STAGES.index(until) + 1]:
        state = STAGE_TASKS[stage].with_options(**options.get(stage, {}))(stage, project, return_state=True)
        if not state.is_completed():
            failure = _failed(stage, state, train_timeout_s)
            break
        outcome[stage] = state.result()
    if outcome.get("gate") == "ran":  # a new decision, even if a later stage failed: alert on it
        state = alerts.announce(project, return_state=True)
        failure = failure or (None if state.is_completed() else _failed(alerts.announce.name, state, train_timeout_s))
    if failure is not None:
        return failure
    get_run_logger().info("stages: %s", outcome)
    finishing = [(publish.publish_results, (project, outcome))] if until == "report" else []
    if dvc_push:  # before the commit, so that no commit names data the remote lacks
        finishing.append((post_steps.push_data, (project,)))
    if git_commit:
        finishing.append((post_steps.commit_results, (project, f"alexnet_pipeline run {flow_run.get_name()}",
                                                      outcome)))
    for step, args in finishing:
        state = step(*args, return_state=True)
        if not state.is_completed():
            return _failed(step.name, state, train_timeout_s)
    gated = STAGES.index(until) >= STAGES.index("gate")
    if git_commit and gated:
        state = post_steps.register_model(project, return_state=True)
        if not state.is_completed():
            return _failed(post_steps.register_model.name, state, train_timeout_s)
    return gate_state(project, outcome) if gated else outcome


def gate_state(project: str, outcome: dict[str, str]) -> dict[str, str] | State:
    """The run's final state from the gate's decision in `paths.gate` (`final_state`)."""
    decision = read_contract(GateDecision, Path(project) / load_params(Path(project) / PARAMS_FILE).paths.gate)
    get_run_logger().info("gate: %s", decision.message)
    return final_state(decision, outcome)


def final_state(decision: GateDecision, outcome: dict[str, str]) -> dict[str, str] | State:
    """The outcome when the model was promoted (or is the blessed one already); Completed with a
    "not promoted" message, or Failed, as `gate.on_reject` chooses, when it was rejected; Failed
    when the data drifted under `drift.on_drift: fail`."""
    failure = run_failure(decision)
    if failure is not None:
        return Failed(message=failure)
    if decision.status != "rejected":
        return outcome
    return Completed(message=decision.message, data=outcome)
