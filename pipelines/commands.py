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


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the command's process group, then SIGKILL whatever outlives the grace period."""
    for sig, wait_s in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run_logged(argv: Sequence[str], cwd: str, env: dict[str, str], logger: logging.Logger | logging.LoggerAdapter
               ) -> Finished:
    """Run `argv` in `cwd` in a process group of its own, logging each output line as it comes."""
    process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", start_new_session=True)
    tail: deque[str] = deque(maxlen=KEPT_LINES)

    def pump() -> None:
        for line in process.stdout:
            line = line.rstrip()
            tail.append(line)
            logger.info(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        while process.poll() is None:
            time.sleep(POLL_S)
    except BaseException:  # Prefect's timeout or a cancellation: leave nothing running behind
        _stop_group(process)
        raise
    reader.join(timeout=5.0)  # a stray grandchild may hold the pipe open; do not wait for it
    return Finished(process.returncode, list(tail))
