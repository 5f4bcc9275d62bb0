"""Run a command for a Prefect task: its output streams to the task log line by line, and an
interruption (a task timeout, a cancelled run) stops the command's whole process group."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

GRACE_S = 15.0  # after SIGTERM, how long the command may take to exit before SIGKILL
POLL_S = 0.2  # how often the wait wakes up, so that Prefect's timeout can interrupt it
KEPT_LINES = 200  # the end of the output kept for the error message


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit status and the last lines it wrote."""

    returncode: int
    tail: list[str]

    @property
    def output(self) -> str:
        return "\n".join(self.tail)


def _kill_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:  # the whole group is gone
        pass


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the command's process group, give it `GRACE_S` to exit, then SIGKILL whatever is
    left of the group (a grandchild may outlive its parent)."""
    _kill_group(process, signal.SIGTERM)
    try:
        process.wait(GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(process, signal.SIGKILL)
    process.wait()


def run_logged(argv: Sequence[str], cwd: str, env: dict[str, str], logger: logging.Logger | logging.LoggerAdapter
               ) -> Finished:
    """Run `argv` in `cwd` in a process group of its own, logging each output line as it comes.

    Nothing of the group outlives the call: on an interruption it is stopped, and after a normal
    exit any stray process still in the group is killed."""
    tail: deque[str] = deque(maxlen=KEPT_LINES)
    process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", start_new_session=True)
    try:
        def pump() -> None:
            for line in process.stdout:
                tail.append(line.rstrip())
                logger.info(line.rstrip())

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        while process.poll() is None:
            time.sleep(POLL_S)
    except BaseException:  # Prefect's timeout or a cancellation: leave nothing running behind
        _stop_group(process)
        raise
    reader.join(timeout=5.0)
    if reader.is_alive():  # a stray process of the group holds the pipe open
        _kill_group(process, signal.SIGKILL)
        reader.join()
    return Finished(process.returncode, list(tail))
