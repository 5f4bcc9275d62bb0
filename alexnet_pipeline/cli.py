"""The `alexnet` command: run the pipeline, train across hosts, run or deploy the Prefect flow,
predict images, list and register model versions."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alexnet_pipeline.config import Params, load_params
from alexnet_pipeline.core.dvc_command import PARAMS_FILE, dvc_command
from alexnet_pipeline.core.stage_runner import configure_logging
from alexnet_pipeline.core.tensorflow_startup import quiet_startup
from alexnet_pipeline.errors import PipelineError

log = logging.getLogger("alexnet_pipeline")


EXAMPLES = """examples:
  alexnet run                            dvc repro: run the stages that are stale
  alexnet run train --force              extra arguments go to dvc repro
  alexnet flow -S train.epochs=2         the Prefect flow once, with a param changed first
  alexnet predict photo.jpg pictures/    the top classes of each image, one JSON line each
  alexnet predict photo.jpg --version production
  alexnet models                         the registered versions and the local blessed model
  alexnet models register                register the committed blessed model
  alexnet models history --at 2026-12-01T02:00   which version was serving then
  alexnet models rollback v1.0.0 --reason "label error in v2"
  alexnet models card production         print a version's model card
  alexnet deploy --worker                the nightly deployment, and a worker for it

Every command works on the project in --project-dir (default: the current folder)."""


def _project(args: argparse.Namespace) -> Path:
    """The project root the command works on, which must hold params.yaml."""
    project = args.project_dir.resolve()
    if not project.is_dir():
        raise PipelineError(f"--project-dir {args.project_dir}: not a folder; pass the project root")
    return project


def _run(args: argparse.Namespace) -> int:
    """`dvc repro [ARGS]` with this environment's Python first on PATH; then, as the flow does,
    fail when the gate rejected the candidate under `gate.on_reject: fail` (or the data drifted
    under `drift.on_drift: fail`), with the gate's message. The outputs that explain why stay."""
    from alexnet_pipeline.core.contracts import GateDecision, read_contract
    from alexnet_pipeline.registry.gate import run_failure

    project = _project(args)
    argv, env = dvc_command(["repro", *args.dvc_args])
    code = subprocess.call(argv, env=env, cwd=project)
    gate_file = project / load_params(_relative(project / PARAMS_FILE)).paths.gate
    if code != 0 or not gate_file.exists():
        return code
    failure = run_failure(read_contract(GateDecision, gate_file))
    if failure is not None:
        raise PipelineError(f"gate: {failure} (see {_relative(gate_file)})")
    return 0


def _train_worker(args: argparse.Namespace) -> int:
    """This host's part of training across hosts (`TF_CONFIG`): the chief runs `dvc repro train`, so
    DVC records the outputs; every other worker runs the train stage, which writes nothing. This
    process becomes that command (exec), so a scheduler's signal reaches DVC or the stage itself,
    and a worker killed by its process id leaves no DVC behind holding the project's locks."""
    from alexnet_pipeline.training.tf_config import cluster_from_env

    project = _project(args)
    cluster = cluster_from_env()
    if cluster is None:
        raise PipelineError("train-worker needs TF_CONFIG naming two or more tasks, set on every host "
                            "(docs/scaling.md); to train on this machine only, run `alexnet run`")
    if cluster.is_chief:
        argv, env = dvc_command(["repro", "train"])
    else:
        argv, env = [sys.executable, "-m", "stages.train"], None
    log.info("worker %d of %d (%s): %s", cluster.rank, cluster.size,
             "the chief" if cluster.is_chief else "writes nothing", " ".join(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(project)
    os.execvpe(argv[0], argv, os.environ if env is None else env)


def _flow(args: argparse.Namespace) -> int:
    """Run the Prefect flow once; print what each stage did, or the reason it failed. A temporary
    Prefect server sends no telemetry: its heartbeat needs the network and, under load, fails on
    a locked database with a traceback in the run's output. It gets 120 s to start instead of
    Prefect's 20 (a busy 2-core machine took longer, and the run failed before any stage)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from pipelines.flow import alexnet_pipeline

    state = alexnet_pipeline(project_dir=str(_project(args)), overrides=args.set_param, until=args.until,
                             train_timeout_s=args.train_timeout_s, dvc_push=args.dvc_push,
                             git_commit=args.git_commit, return_state=True)
    if not state.is_completed():
        raise PipelineError(f"flow run {state.name}: {state.message}")
    print(json.dumps(state.result()))
    return 0


def _deploy(args: argparse.Namespace) -> int:
    """Create the prefect.yaml deployment and its work pool; optionally start a worker for it."""
    from pipelines.deployment import deploy

    spec = deploy(_project(args), args.name, args.alert_block)
    if not args.worker:
        log.info("start a worker with: prefect worker start --pool %s", spec.work_pool)
        return 0
    return subprocess.call([sys.executable, "-m", "prefect", "worker", "start", "--pool", spec.work_pool])


def _serve(args: argparse.Namespace) -> int:
    """Serve a prefect.yaml deployment from this process until interrupted."""
    from pipelines.deployment import serve

    serve(_project(args), args.name, args.alert_block)
    return 0


def _predict(args: argparse.Namespace) -> int:
    """Print one JSON line per image; exit 1 if any image could not be read."""
    from alexnet_pipeline.core.artifacts import SHARDS_FILE
    from alexnet_pipeline.core.contracts import ClassNames, ShardLayout, read_contract
    from alexnet_pipeline.evaluation.predict import expand_inputs, predict_files
    from alexnet_pipeline.input.tfrecords import ShardFormat
    from alexnet_pipeline.registry.blessed_store import LABELS_FILE, MODEL_FILE
    from alexnet_pipeline.training.model import load_model

    if args.top_k < 1:
        raise PipelineError(f"--top-k must be >= 1, got {args.top_k}")
    project = _project(args)
    params = load_params(_relative(project / PARAMS_FILE))
    if args.version and (args.model or args.labels):
        raise PipelineError("--version picks a registered model with its labels; leave out --model and --labels")
    with tempfile.TemporaryDirectory(prefix="alexnet-version-") as scratch:
        if args.version:
            folder = _registered_model(args.version, project, params, Path(scratch))
            model_path, labels_path = folder / MODEL_FILE, folder / LABELS_FILE
            shards, resize = ShardFormat.read(folder), read_contract(ShardLayout, folder / SHARDS_FILE).resize
        else:
            model_path = args.model or _relative(project / params.scored_model)
            labels_path = args.labels or _relative(project / params.paths.labels)
            shards, resize = ShardFormat.of(params.preprocess, params.base.image_size), params.preprocess.resize
        for required in (model_path, labels_path):
            if not required.exists():
                raise PipelineError(f"{required}: not found; train a model first (make run)")
        labels = read_contract(ClassNames, labels_path).root
        model = load_model(model_path)
    failures = 0
    files = list(expand_inputs(args.images))
    for prediction in predict_files(model, labels, files, shards, resize, args.top_k,
                                    ten_crop=params.evaluate.ten_crop):
        failures += prediction.error is not None
        print(json.dumps(prediction.as_json()), flush=True)
    if failures:
        log.error("%d of %d images could not be read", failures, len(files))
    return 1 if failures else 0


def _relative(path: Path) -> Path:
    """`path` as the user would write it from here: relative to the current folder when inside it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _registered_model(wanted: str, project: Path, params: Params, scratch: Path) -> Path:
    """The folder of the registered version `wanted` names (a version or a stage): the local
    blessed store when it holds that version, else fetched from its commit through DVC."""
    from alexnet_pipeline.registry.blessed_store import read_blessed
    from alexnet_pipeline.registry.gto_tags import fetch_version, resolve

    version = resolve(project, wanted)
    local = read_blessed(project / params.paths.blessed)
    if local is not None and local.version.version == version:
        return local.folder
    log.info("fetching %s from its commit", version)
    return fetch_version(project, version, scratch / "model")


def _models(args: argparse.Namespace) -> int:
    """`alexnet models ACTION`: list, register, history, rollback or card."""
    project = _project(args)
    params = load_params(_relative(project / PARAMS_FILE))
    actions = {"list": _list_models, "register": _register_model, "history": _model_history,
               "rollback": _rollback_model, "card": _model_card}
    if args.action in ("rollback", "card") and not args.version:
        raise PipelineError(f"alexnet models {args.action} needs a VERSION (v1.0.0, 1, production or latest)")
    return actions[args.action](args, project, params)


def _register_model(args: argparse.Namespace, project: Path, params: Params) -> int:
    """Register the committed blessed model as a GTO version on HEAD."""
    from alexnet_pipeline.registry.gto_tags import register_blessed

    version, new = register_blessed(project, project / params.paths.blessed)
    if version is None:
        raise PipelineError(f"{params.paths.blessed}: nothing is blessed yet; run the pipeline first (make run)")
    print(f"registered {version} (stage production)" if new else f"{version} is registered already")
    return 0


def _list_models(args: argparse.Namespace, project: Path, params: Params) -> int:
    """The registered versions (newest first) with their stages, test accuracy at registration
    and where their model card is, and the local blessed model."""
    from alexnet_pipeline.registry.blessed_store import CARD_MARKDOWN_FILE, read_blessed
    from alexnet_pipeline.registry.gto_tags import versions

    local = read_blessed(project / params.paths.blessed)
    local_card = str(params.paths.blessed / CARD_MARKDOWN_FILE)
    rows = [{**item, "accuracy": _committed_accuracy(project, item["commit"], params.paths.gate),
             "card": local_card if local and local.version.version == item["version"]
             else f"alexnet models card {item['version']}"} for item in versions(project)]
    if args.json:
        print(json.dumps({"versions": rows, "local_blessed": local.version.version if local else None,
                          "local_card": local_card if local else None}))
        return 0
    print(f"{'version':<10} {'stages':<12} {'commit':<10} {'accuracy':<9} {'registered':<26} model card")
    for row in rows:
        accuracy = f"{row['accuracy']:.4f}" if row["accuracy"] is not None else "-"
        print(f"{row['version']:<10} {','.join(row['stages']) or '-':<12} {row['commit'][:10]:<10} {accuracy:<9} "
              f"{row['created_at']:<26} {row['card']}")
    if local is not None and local.version.version not in {row["version"] for row in rows}:
        print(f"{local.version.version:<10} {'(local)':<12} {'-':<10} {local.version.accuracy:<9.4f} "
              f"{'not registered':<26} {local_card}")
        print("commit dvc.lock, then `alexnet models register`")
    if not rows and local is None:
        print("no model is blessed or registered yet")
    return 0


def _model_history(args: argparse.Namespace, project: Path, params: Params) -> int:
    """Every gate decision and rollback, oldest first; with --at, the version serving then."""
    from alexnet_pipeline.registry.history import blessing, parse_time, read_history, serving_at

    events = read_history(project / params.paths.history)
    if args.at is not None:
        when = parse_time(args.at)
        event = serving_at(events, when)
        serving = event.serving_version if event else None
        promoted = blessing(events, serving) if serving else None
        answer = {"at": when.isoformat(), "serving_version": serving, "since": event.time if event else None,
                  "data_fingerprint": promoted.data_fingerprint if promoted else None,
                  "accuracy": promoted.accuracy if promoted else None}
        if args.json:
            print(json.dumps(answer))
        elif serving is None:
            print(f"at {answer['at']} no model was serving" + (f" (the last event before: {event.time})" if event else
                                                                " (the history starts later)"))
        else:
            data = (answer["data_fingerprint"] or "unknown")[:12]
            accuracy = f"{answer['accuracy']:.4f}" if answer["accuracy"] is not None else "unknown"
            print(f"at {answer['at']} {serving} was serving (since {event.time}); it was trained on data version "
                  f"{data}, test accuracy {accuracy}")
        return 0
    if args.json:
        print(json.dumps([event.model_dump(mode="json") for event in events]))
        return 0
    print(f"{'time':<26} {'outcome':<16} {'version':<9} {'serving':<9} {'data':<13} {'accuracy':<9} note")
    for event in events:
        accuracy = f"{event.accuracy:.4f}" if event.accuracy is not None else "-"
        print(f"{event.time:<26} {event.outcome:<16} {event.version or '-':<9} {event.serving_version or '-':<9} "
              f"{(event.data_fingerprint or '-')[:12]:<13} {accuracy:<9} {event.message}")
    if not events:
        print(f"no gate decision yet ({params.paths.history} is empty): run the pipeline first (make run)")
    return 0


def _rollback_model(args: argparse.Namespace, project: Path, params: Params) -> int:
    """Put a registered version back as the blessed and serving model."""
    from alexnet_pipeline.registry.rollback import rollback

    paths = params.paths
    event = rollback(project, project / paths.blessed, project / paths.serving, project / paths.history,
                     args.version, args.reason or "")
    print(f"rolled back to {event.version} (was {event.replaced or 'nothing'}); stage production is on "
          f"{event.version}. The next run gates against it; commit {paths.history} to keep the record.")
    return 0


def _model_card(args: argparse.Namespace, project: Path, params: Params) -> int:
    """Print a registered version's model card (from the local blessed store or its commit)."""
    from alexnet_pipeline.registry.blessed_store import CARD_MARKDOWN_FILE

    with tempfile.TemporaryDirectory() as scratch:
        card = _registered_model(args.version, project, params, Path(scratch)) / CARD_MARKDOWN_FILE
        if not card.is_file():
            raise PipelineError(f"version {args.version} has no model card: it was blessed before cards existed")
        print(card.read_text(encoding="utf-8"), end="")
    return 0


def _committed_accuracy(project: Path, commit: str, gate_path: Path) -> float | None:
    """The blessed model's test accuracy in the gate report committed with its version (None
    when that commit has no readable one)."""
    from pydantic import ValidationError

    from alexnet_pipeline.core.contracts import GateDecision

    shown = subprocess.run(["git", "show", f"{commit}:{gate_path.as_posix()}"], cwd=project,
                           capture_output=True, text=True, check=False)
    try:
        decision = GateDecision.model_validate_json(shown.stdout) if shown.returncode == 0 else None
    except ValidationError:
        return None
    if decision is None:
        return None
    return decision.candidate.accuracy if decision.status != "rejected" else decision.blessed and decision.blessed.accuracy


def build_parser() -> argparse.ArgumentParser:
    """The `alexnet` command line: run, train-worker, flow, deploy, serve, predict and models."""
    parser = argparse.ArgumentParser(prog="alexnet", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {importlib.metadata.version('alexnet-pipeline')}")
    project = argparse.ArgumentParser(add_help=False)
    project.add_argument("--project-dir", type=Path, default=Path("."), metavar="DIR",
                         help="the project root, which holds params.yaml and dvc.yaml (default: .)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Any, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[project], help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    command("run", _run, "run the pipeline: dvc repro, extra arguments go to dvc").set_defaults(dvc_args=[])
    command("train-worker", _train_worker, "run this host's part of training across hosts (TF_CONFIG): "
            "dvc repro train on the chief, the train stage elsewhere")

    flow = command("flow", _flow, "run the Prefect flow once, locally")
    flow.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE",
                      help="change params.yaml first, as `dvc exp run -S` does (repeatable)")
    flow.add_argument("--until", default="report", help="the last stage to run (default: report)")
    flow.add_argument("--train-timeout-s", type=float, default=6 * 3600.0,
                      help="stop train after this many seconds (default: 6 hours)")
    flow.add_argument("--dvc-push", action="store_true", help="dvc push after a successful run")
    flow.add_argument("--git-commit", action="store_true",
                      help="commit dvc.lock, params.yaml and the metrics after a successful run")

    for name, handler, text in (("deploy", _deploy, "create the prefect.yaml deployment on the Prefect server"),
                                ("serve", _serve, "serve the prefect.yaml deployment from this process")):
        deployment = command(name, handler, text)
        deployment.add_argument("--name", default="nightly",
                                help="the deployment in prefect.yaml (default: nightly)")
        deployment.add_argument("--alert-block", metavar="TYPE/NAME",
                                help="send alerts through this Prefect notification block (e.g. slack-webhook/ml-team); "
                                     "default: a webhook block from $ALEXNET_ALERT_WEBHOOK_URL, else no alerts")
        if name == "deploy":
            deployment.add_argument("--worker", action="store_true", help="then start a process worker for it")

    predict = command("predict", _predict, "print one JSON line of top classes per image")
    predict.add_argument("images", nargs="+", type=Path, help="image files or folders")
    predict.add_argument("--top-k", type=int, default=3, help="classes per image (default: 3)")
    predict.add_argument("--model", type=Path, metavar="FILE", help="model file (default: the evaluate.model one, "
                         "paths.best_model or paths.model)")
    predict.add_argument("--labels", type=Path, metavar="FILE", help="labels file (default: paths.labels)")
    predict.add_argument("--version", help="score with a registered model: a version (v2.0.0), a stage "
                         "(production) or latest")

    models = command("models", _models, "list, register, roll back model versions; their history and cards")
    models.add_argument("action", nargs="?", choices=["list", "register", "history", "rollback", "card"],
                        default="list", help="list (default); register the committed blessed model as a GTO "
                        "version; history of gate decisions and rollbacks; rollback VERSION; card VERSION")
    models.add_argument("version", nargs="?", help="for rollback and card: a version (v1.0.0 or 1), a stage "
                        "(production) or latest")
    models.add_argument("--reason", help="rollback: why, kept in the history (required)")
    models.add_argument("--at", metavar="TIME", help="history: which version was serving at TIME "
                        "(ISO 8601; local time unless it has a zone)")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `alexnet` console script. TensorFlow's C++ start-up log (oneDNN, CPU
    features) is kept out before any command imports it: a command prints what was asked, nothing else."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet_startup()
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.command != "run":
        build_parser().error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "run":
        args.dvc_args = extra
    configure_logging()
    try:
        sys.exit(args.handler(args))
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # Ctrl-C on a worker, a server or a long run: stop quietly
        sys.exit(130)


if __name__ == "__main__":
    main()
