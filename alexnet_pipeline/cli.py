"""The `alexnet` command: run the pipeline, run the Prefect flow, predict images."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from alexnet_pipeline.config import load_params
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.stage_runner import configure_logging

log = logging.getLogger("alexnet_pipeline")


def _run(args: argparse.Namespace) -> int:
    """`dvc repro` with this environment's Python first on PATH."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.call([sys.executable, "-m", "dvc", "repro", *args.dvc_args], env=env)


def _flow(args: argparse.Namespace) -> int:
    from pipelines.flow import alexnet_pipeline

    outcome = alexnet_pipeline(project_dir=args.project_dir)
    print(json.dumps(outcome))
    return 0


def _predict(args: argparse.Namespace) -> int:
    import keras

    from alexnet_pipeline.predict import expand_inputs, predict_files

    params = load_params(args.params)
    model_path = Path(args.model) if args.model else params.paths.model
    labels_path = Path(args.labels) if args.labels else params.paths.labels
    for required in (model_path, labels_path):
        if not required.exists():
            raise PipelineError(f"{required}: not found; train a model first (make run)")
    labels = json.loads(labels_path.read_text())
    model = keras.models.load_model(model_path)
    failures = 0
    files = list(expand_inputs(args.images))
    for prediction in predict_files(model, labels, files, params.base.image_size,
                                    params.preprocess.resize, params.preprocess.jpeg_quality,
                                    args.top_k):
        failures += prediction.error is not None
        print(json.dumps(prediction.as_json()), flush=True)
    if failures:
        log.error("%d of %d images could not be read", failures, len(files))
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alexnet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the pipeline (dvc repro; extra args go to dvc)")
    run.add_argument("dvc_args", nargs=argparse.REMAINDER)
    run.set_defaults(handler=_run)

    flow = commands.add_parser("flow", help="run the Prefect flow once, locally")
    flow.add_argument("--project-dir", default=".", help="the project root (default: .)")
    flow.set_defaults(handler=_flow)

    predict = commands.add_parser("predict", help="print one JSON line of top classes per image")
    predict.add_argument("images", nargs="+", help="image files or folders")
    predict.add_argument("--top-k", type=int, default=3, help="classes per image (default 3)")
    predict.add_argument("--model", help="model file (default: paths.model in params.yaml)")
    predict.add_argument("--labels", help="labels file (default: paths.labels in params.yaml)")
    predict.add_argument("--params", default="params.yaml", help="params file")
    predict.set_defaults(handler=_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        sys.exit(args.handler(args))
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
