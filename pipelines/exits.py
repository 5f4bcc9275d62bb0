"""Failures a user can read: `SystemExit` inside a task or flow is a failure with a message,
not a crash, and a `PipelineError` is logged as its message, without a traceback.

Prefect marks a run Crashed when a BaseException escapes it; code that calls `sys.exit` (a
stage's `main`, through `run_stage`) should instead end the run Failed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from alexnet_pipeline.errors import PipelineError

P = ParamSpec("P")
R = TypeVar("R")
RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


class ExitedEarly(PipelineError):
    """Code inside a task called `sys.exit`."""


def exit_is_failure(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap `fn` so that `SystemExit` becomes an `ExitedEarly` error naming `fn` and the status."""

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SystemExit as exc:
            raise ExitedEarly(f"{fn.__name__} exited with status {exc.code!r} instead of finishing; "
                              "its log above says why") from None

    return guarded


class _NoTracebackForPipelineErrors(logging.Filter):
    """Prefect logs a failed task's exception with its traceback; a `PipelineError` already says
    what went wrong and what to do, so its traceback is noise to the reader."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PipelineError):
            record.exc_info = record.exc_text = None
        return True


def quiet_pipeline_errors() -> None:
    """Log `PipelineError`s of task and flow runs without a traceback (idempotent)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _NoTracebackForPipelineErrors) for existing in logger.filters):
            logger.addFilter(_NoTracebackForPipelineErrors())
