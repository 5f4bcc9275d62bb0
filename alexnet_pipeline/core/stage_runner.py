"""The shared entry point of every stage: logging, `--params`, readable failures, and a run
journal (one line per stage that really ran) for the Prefect flow to tell a run from a restore."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from alexnet_pipeline.config import Params, load_params
from alexnet_pipeline.errors import PipelineError

log = logging.getLogger("alexnet_pipeline")
# Names a file to which each stage run appends its name; set by the flow for `dvc repro`.
JOURNAL_ENV = "ALEXNET_STAGE_JOURNAL"


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr as `time level name: message`, once per process."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Prefect's API calls, one line each
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # its INFO lines come twice (absl and ours)


def record_run(name: str) -> None:
    """Append `name` to the journal file that $ALEXNET_STAGE_JOURNAL names, if it is set: the
    record that this stage's command ran, rather than DVC restoring its outputs from its run cache."""
    journal = os.environ.get(JOURNAL_ENV)
    if journal:
        with open(journal, "a", encoding="utf-8") as lines:
            lines.write(f"{name}\n")


def run_stage(name: str, body: Callable[[Params], None], argv: Sequence[str] | None = None) -> None:
    """Parse `--params`, load the typed params and run `body`; a `PipelineError` exits cleanly.

    The user sees `error: <stage>: <message>` and a non-zero exit status, not a traceback.
    """
    parser = argparse.ArgumentParser(prog=f"python -m stages.{name}", description=body.__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    configure_logging()
    record_run(name)
    try:
        body(load_params(args.params))
    except PipelineError as exc:
        print(f"error: {name}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except FileNotFoundError as exc:  # an input an earlier stage should have written
        print(f"error: {name}: {exc.filename}: not found; run the earlier stages first "
              f"(dvc repro {name})", file=sys.stderr)
        sys.exit(1)
