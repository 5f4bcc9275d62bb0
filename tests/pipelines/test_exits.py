"""A task that calls sys.exit ends Failed with a message; unguarded, Prefect would say Crashed."""

from __future__ import annotations

import logging
import sys

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName
from prefect.client.schemas.sorting import TaskRunSort

from alexnet_pipeline.errors import PipelineError
from pipelines.exits import exit_is_failure, quiet_pipeline_errors


def exits_with_three() -> None:
    """Stands for code that calls sys.exit, such as a stage's main."""
    sys.exit(3)


guarded_task = task(exit_is_failure(exits_with_three), name="guarded")
unguarded_task = task(exits_with_three, name="unguarded")


@flow
def runs(guarded: bool) -> tuple[str, str, str]:
    state = (guarded_task if guarded else unguarded_task)(return_state=True)
    return state.type.value, state.name, state.message


def test_system_exit_in_a_task_is_a_failure_with_a_message(prefect_harness) -> None:
    kind, name, message = runs(True)
    assert (kind, name) == ("FAILED", "Failed")
    assert "exits_with_three exited with status 3 instead of finishing" in message


def test_without_the_guard_prefect_calls_it_a_crash(prefect_harness) -> None:
    with pytest.raises(SystemExit):
        runs(False, return_state=True)
    with get_client(sync_client=True) as client:
        [crashed] = client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="unguarded")),
                                          sort=TaskRunSort.EXPECTED_START_TIME_DESC, limit=1)  # this test's
    assert crashed.state.is_crashed()


@pytest.mark.filterwarnings("ignore:Logger 'prefect.task_runs' attempted to send logs")
def test_pipeline_errors_are_logged_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    quiet_pipeline_errors()
    logger = logging.getLogger("prefect.task_runs")
    for error in (PipelineError("params.yaml: fix it"), ValueError("a bug")):
        try:
            raise error
        except Exception:
            logger.exception("Task run failed with exception: %r", error)
    readable, bug = caplog.records[-2:]
    assert readable.exc_info is None and "Traceback" not in caplog.text.split("a bug")[0]
    assert bug.exc_info is not None  # other exceptions keep their traceback
