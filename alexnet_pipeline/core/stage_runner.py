"""The shared entry point of every stage: logging, `--params`, and readable failures."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from alexnet_pipeline.config import Params, load_params
from alexnet_pipeline.errors import PipelineError

log = logging.getLogger("alexnet_pipeline")


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr as `time level name: message`, once per process."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Prefect's API calls, one line each
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # its INFO lines come twice (absl and ours)


def run_stage(name: str, body: Callable[[Params], None], argv: Sequence[str] | None = None) -> None:
    """Parse `--params`, load the typed params and run `body`; a `PipelineError` exits cleanly.

    The user sees `error: <stage>: <message>` and a non-zero exit status, not a traceback.
    """
    parser = argparse.ArgumentParser(prog=f"python -m stages.{name}", description=body.__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        body(load_params(args.params))
    except PipelineError as exc:
        print(f"error: {name}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except FileNotFoundError as exc:  # an input an earlier stage should have written
        print(f"error: {name}: {exc.filename}: not found; run the earlier stages first "
              f"(dvc repro {name})", file=sys.stderr)
        sys.exit(1)
