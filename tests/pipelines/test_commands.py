"""Commands under a task: output streams line by line; an interruption stops the whole group."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipelines.commands import run_logged

# a parent that starts a child and both sleep: stopping the parent alone would orphan the child
PARENT_AND_CHILD = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " \
                   "'import time; time.sleep(60)']); print('started', flush=True); time.sleep(60)"


def test_output_is_logged_and_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.commands")
    with caplog.at_level(logging.INFO, logger="test.commands"):
        script = "import sys; print('one'); print('two', file=sys.stderr); sys.exit(3)"
        finished = run_logged([sys.executable, "-c", script], str(tmp_path), dict(os.environ), logger)
    assert finished.returncode == 3
    assert finished.tail == ["one", "two"] and finished.output == "one\ntwo"
    assert [record.getMessage() for record in caplog.records] == ["one", "two"]


class Interrupted(Exception):
    pass


def test_an_interruption_stops_the_command_and_its_children(tmp_path: Path) -> None:
    def interrupt(*_: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 3.0)  # as Prefect's task timeout does on the main thread
    started = time.monotonic()
    try:
        with pytest.raises(Interrupted):
            run_logged([sys.executable, "-c", PARENT_AND_CHILD], str(tmp_path), dict(os.environ),
                       logging.getLogger("test.commands"))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 30
    time.sleep(0.5)  # let init reap the orphaned child
    survivors = [process for process in psutil.process_iter(["cwd", "status"])
                 if process.info["cwd"] == str(tmp_path) and process.info["status"] != psutil.STATUS_ZOMBIE]
    assert survivors == []
