"""The shared entry point of every stage: logging, `--params`, readable failures, and a run
journal for the Prefect flow.

The journal is a file of JSON lines that each stage run appends to, when the flow names one in
$ALEXNET_STAGE_JOURNAL: one line when the stage's command starts (so the flow can tell a run
from DVC restoring the outputs from its run cache) and, when the stage fails, one line with its
own error message (so the flow reports what the stage said, not what DVC's log says about it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from alexnet_pipeline.config import Params, load_params
from alexnet_pipeline.errors import PipelineError

log = logging.getLogger("alexnet_pipeline")
# Names the journal file that each stage run appends to; set by the flow for `dvc repro`.
JOURNAL_ENV = "ALEXNET_STAGE_JOURNAL"


@dataclass(frozen=True)
class JournalEntry:
    """One line of the journal: `stage` started ("ran"), or failed with `error`, its message."""

    stage: str
    event: str  # "ran" | "failed"
    error: str | None = None


@dataclass(frozen=True)
class StageRecord:
    """What the journal says of one stage: whether its command ran, and its error if it failed."""

    ran: bool
    error: str | None


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr as `time level name: message`, once per process."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Prefect's API calls, one line each
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # its INFO lines come twice (absl and ours)


def _journal(entry: JournalEntry) -> None:
    """Append `entry` to the journal that $ALEXNET_STAGE_JOURNAL names, if it is set."""
    journal = os.environ.get(JOURNAL_ENV)
    if journal:
        fields = {"stage": entry.stage, "event": entry.event}
        if entry.error is not None:
            fields["error"] = entry.error
        with open(journal, "a", encoding="utf-8") as lines:
            lines.write(json.dumps(fields) + "\n")


def record_run(name: str) -> None:
    """Journal that this stage's command ran, rather than DVC restoring its outputs from its
    run cache."""
    _journal(JournalEntry(name, "ran"))


def record_failure(name: str, error: str) -> None:
    """Journal that this stage failed, with `error`, the message the user should read."""
    _journal(JournalEntry(name, "failed", error))


def read_journal(path: Path) -> list[JournalEntry]:
    """The journal's entries in order; none when no stage wrote one."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [JournalEntry(**json.loads(line)) for line in lines if line.strip()]


def stage_record(path: Path, stage: str) -> StageRecord:
    """What the journal at `path` says of `stage`: whether it ran, and its last recorded error."""
    entries = [entry for entry in read_journal(path) if entry.stage == stage]
    errors = [entry.error for entry in entries if entry.event == "failed"]
    return StageRecord(ran=any(entry.event == "ran" for entry in entries),
                       error=errors[-1] if errors else None)


def _fail(name: str, message: str, exit_code: int) -> NoReturn:
    """Journal the failure, show `error: <stage>: <message>` on stderr, exit with `exit_code`."""
    record_failure(name, message)
    print(f"error: {name}: {message}", file=sys.stderr)  # the user's one line, whatever the logging
    sys.exit(exit_code)


def run_stage(name: str, body: Callable[[Params], None], argv: Sequence[str] | None = None) -> None:
    """Parse `--params`, load the typed params and run `body`; a `PipelineError` exits cleanly.

    The user sees `error: <stage>: <message>` and a non-zero exit status, not a traceback; the
    journal gets the same message. Any other exception is a bug: it is journaled by its type and
    message, and keeps its traceback.
    """
    parser = argparse.ArgumentParser(prog=f"python -m stages.{name}", description=body.__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    configure_logging()
    record_run(name)
    try:
        body(load_params(args.params))
    except PipelineError as exc:
        _fail(name, str(exc), exc.exit_code)
    except FileNotFoundError as exc:  # an input an earlier stage should have written
        _fail(name, f"{exc.filename}: not found; run the earlier stages first "
                    f"(dvc repro {name})", 1)
    except Exception as exc:
        record_failure(name, f"{type(exc).__name__}: {exc} "
                             "(a bug: the traceback is in the stage's log)")
        raise
