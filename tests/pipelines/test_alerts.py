"""Alerts: the events a run emits after its gate ran, and the deployment's alert automations on a
real Prefect server, which send exactly one message per event to a webhook receiver on loopback;
with the receiver down, the runs end as before."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.settings import PREFECT_API_URL, temporary_settings

from alexnet_pipeline.core.contracts import DriftReport, GateDecision
from pipelines.alerts import run_events
from pipelines.automations import WEBHOOK_ENV
from tests.alexnet_pipeline.registry.test_gate import DRIFT, FINDINGS, NO_DRIFT, _decide, _figures
from tests.pipelines.prefect_server import (
    BIN,
    DEPLOYMENT,
    deploy,
    free_port,
    start,
    stop,
    wait_for_run,
)

REPORT = Path("/project/reports/report.html")


def _drift(drifted: bool) -> DriftReport:
    return DriftReport.model_validate({
        "reference": {"version": "v1.0.0", "images": 10, "classes": ["cat", "dog"]},
        "current": {"images": 10, "classes": ["cat", "dog"]}, "drifted": drifted,
        "findings": FINDINGS if drifted else [], "on_drift": "warn"})


def _events(decision: dict, drifted: bool = False) -> list[tuple[str, dict[str, Any]]]:
    return run_events(GateDecision.model_validate(decision), _drift(drifted), REPORT)


def test_a_promotion_is_one_event_with_the_decision_and_the_report() -> None:
    decision = _decide(_figures(0.8), note="nothing blessed")
    assert _events(decision) == [("alexnet.model.promoted", {
        "headline": "alexnet-pipeline: v1.0.0 promoted (accuracy 0.8000)", "message": decision["message"],
        "status": "promoted", "version": "v1.0.0", "serving_version": "v1.0.0", "accuracy": 0.8,
        "report": "file:///project/reports/report.html"})]


def test_a_rejection_names_the_model_that_stays_in_serving_and_drift_is_an_event_of_its_own() -> None:
    decision = _decide(_figures(0.5), _figures(0.9, "v1.0.0"), drift=DRIFT)
    (rejected, payload), (drifted, drift_payload) = _events(decision, drifted=True)
    assert (rejected, payload["headline"], payload["status"]) == (
        "alexnet.model.rejected", "alexnet-pipeline: candidate rejected (accuracy 0.5000); v1.0.0 stays in serving",
        "rejected")
    assert drifted == "alexnet.data.drifted"
    assert drift_payload["headline"] == "alexnet-pipeline: the data drifted from v1.0.0's (2 finding(s))"
    assert drift_payload["message"] == "\n".join(f"- {finding}" for finding in FINDINGS)


def test_a_model_that_is_blessed_already_and_data_that_did_not_drift_alert_no_one() -> None:
    assert _events(_decide(_figures(0.9), _figures(0.9, "v1.0.0"), same=True, drift=NO_DRIFT)) == []


class _Receiver:
    """A webhook on loopback that records each JSON body POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alexnet"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def distinct(self) -> list[dict[str, Any]]:
        """The messages, one per event (its id ends each body), in the order they first came:
        Prefect delivers at least once, and a repeat must be the same message."""
        first: dict[str, dict[str, Any]] = {}
        for message in list(self.received):
            event = message["body"].rsplit("\nEvent: ", 1)[-1]
            assert first.setdefault(event, message) == message, (first[event], message)
        return list(first.values())

    def wait_for(self, count: int, timeout_s: float = 90) -> list[dict[str, Any]]:
        """The messages of `count` events once they came and no other came for 10 s."""
        deadline = time.monotonic() + timeout_s
        while len(self.distinct()) < count and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(10)  # a message of another event would arrive within this
        return self.distinct()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    running = _Receiver()
    yield running
    running.down()


def _run(api: str, project: Path, log: Path, overrides: list[str], drop_blessed: bool = False):
    """One run of the nightly deployment with `overrides`, optionally with nothing blessed, so that
    the gate decides again; returns the finished flow run."""
    if drop_blessed:
        shutil.rmtree(project / "models/blessed")
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(client.read_deployment_by_name(DEPLOYMENT).id,
                                                          parameters={"overrides": overrides})
    return wait_for_run(api, flow_run.id, log, timeout_s=400)


def _messages(received: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((message["subject"], message["body"]) for message in received)


def _is_event_id(line: str) -> bool:
    return re.fullmatch(r"Event: [0-9a-f-]{36}", line) is not None


@pytest.mark.slow(seconds=400)
def test_a_webhook_gets_one_message_per_decision_drift_and_failure(prefect_server: dict[str, str], project_copy: Path,
                                                                    tmp_path: Path, receiver: _Receiver) -> None:
    api = prefect_server["PREFECT_API_URL"]
    deployed = deploy({**prefect_server, WEBHOOK_ENV: receiver.url}, project_copy)
    for name in ("mark dead runs Crashed", "alert on gate decisions and drift", "alert on failed runs"):
        assert f"automation 'alexnet_pipeline/nightly: {name}'" in deployed.stderr
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        block = client.read_block_document_by_name("alexnet-alerts", "custom-webhook", include_secrets=False)
    assert block.data["url"] == "{{webhook_url}}"  # the URL is a block secret, kept from the block's plain fields
    assert receiver.url not in json.dumps(block.data, default=str)

    log = tmp_path / "worker.log"
    worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "alexnet-process"], prefect_server, log)
    report = (project_copy / "reports/report.html").as_uri()
    try:
        # new, larger photos (drift) and a bar the new model cannot pass: rejected, and drift
        rejected = _run(api, project_copy, log, ["data.sample.min_side=128", "data.sample.max_side=160",
                                                 "gate.min_accuracy=0.99"])
        assert rejected.state.is_completed() and "not promoted" in rejected.state.message, rejected.state
        first = receiver.wait_for(2)
        decision = json.loads((project_copy / "reports/gate.json").read_text())
        subjects = [subject for subject, _ in _messages(first)]
        assert subjects == [(f"alexnet-pipeline: candidate rejected (accuracy {decision['candidate']['accuracy']:.4f}); "
                            "v1.0.0 stays in serving"),
                            (f"alexnet-pipeline: the data drifted from v1.0.0's ({len(decision['drift']['findings'])} "
                            "finding(s))")], _messages(first)
        assert _messages(first)[0][1].startswith(decision["message"])
        for _, body in _messages(first):
            assert f"Report: {report}" in body and f"Run: {rejected.name}" in body
        assert "image width distribution shifted" in _messages(first)[1][1]

        promoted = _run(api, project_copy, log, ["gate.min_accuracy=0.0"], drop_blessed=True)
        assert promoted.state.is_completed() and "not promoted" not in (promoted.state.message or ""), promoted.state
        second = receiver.wait_for(3)[2:]
        accuracy = json.loads((project_copy / "reports/gate.json").read_text())["candidate"]["accuracy"]
        assert [message["subject"] for message in second] == [f"alexnet-pipeline: v1.0.0 promoted (accuracy {accuracy:.4f})"]
        assert second[0]["body"].startswith("promoted as v1.0.0") and f"Run: {promoted.name}" in second[0]["body"]

        missing = tmp_path / "no-such-dataset"
        failed = _run(api, project_copy, log, ["data.source=local", f"data.local.path={missing}"])
        assert failed.state.is_failed(), failed.state
        third = receiver.wait_for(4)[3:]
        assert [message["subject"] for message in third] == [
            f"alexnet-pipeline alexnet_pipeline/nightly: run {failed.name} Failed"]
        assert third[0]["body"].startswith("stage source failed: data.local.path: ") and str(missing) in third[0]["body"]

        receiver.down()  # the same kinds of run with nobody listening end as before
        down_at = datetime.now(UTC)
        failed_again = _run(api, project_copy, log, [])
        assert failed_again.state.is_failed() and failed_again.state.message == failed.state.message
        promoted_again = _run(api, project_copy, log, ["data.source=sample"], drop_blessed=True)
        assert promoted_again.state.is_completed(), promoted_again.state
    finally:
        stop(worker)
    assert len(receiver.distinct()) == 4 and all(_is_event_id(m["body"].splitlines()[-1]) for m in receiver.received)
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        alerting = {f"prefect.automation.{automation.id}" for automation in client.read_automations()
                    if "alert on" in automation.name}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the alerts of the two runs nobody heard were sent all the same
            fired = [event for event in client.read_events(filter=EventFilter(
                event=EventNameFilter(name=["prefect.automation.triggered"])), limit=50).events
                if event.resource.id in alerting and event.occurred >= down_at]
            if len(fired) >= 2:
                break
            time.sleep(2)
    assert len(fired) >= 2, fired
