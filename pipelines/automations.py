"""The Prefect automations that `alexnet deploy` and `alexnet serve` ship with a deployment, so
that nobody has to watch its runs: a run whose heartbeats stopped (its machine or worker died)
is marked Crashed, which ends it in the UI and frees its concurrency slot; and, with an alert
target, one notification per gate decision, drift finding and failed run, sent by the Prefect
server through a notification block (its URL and secrets live in Prefect, never in the repo)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.exceptions import ObjectNotFound

from alexnet_pipeline.errors import PipelineError
from pipelines.alerts import DECISION_EVENTS, DRIFT_EVENT

log = logging.getLogger(__name__)
WEBHOOK_ENV = "ALEXNET_ALERT_WEBHOOK_URL"  # a URL that takes a JSON POST (Slack, Teams, any HTTP endpoint)
WEBHOOK_BLOCK = "alexnet-alerts"  # the custom-webhook block made from WEBHOOK_ENV
MISSED_HEARTBEATS = 3  # heartbeats a run may miss before it counts as dead
# the events that end a flow run: after one, no heartbeat is due (TimedOut: the flow's train timeout)
RUN_ENDS = ("Completed", "Failed", "Cancelled", "Crashed", "TimedOut")
FAILURES = ("Failed", "Crashed", "TimedOut")
# the notifications' Jinja templates, rendered by the server from the triggering event and its run
# The event's id ends each body: Prefect delivers at least once (a SQLite server under load was seen
# to send one event's message three times), so a receiver can drop repeats of the same event.
DECISION_BODY = ("{{ event.payload.message }}\nReport: {{ event.payload.report }}\n"
                 "Run: {{ flow_run.name }} {{ flow_run|ui_url or '(no UI)' }}\nEvent: {{ event.id }}")
FAILURE_SUBJECT = "run {{ flow_run.name }} {{ event.payload.validated_state.name }}"
FAILURE_BODY = ("{{ event.payload.validated_state.message }}\nRun: {{ flow_run.name }} "
                "{{ flow_run|ui_url or '(no UI)' }}\nEvent: {{ event.id }}")


@dataclass(frozen=True)
class AlertTarget:
    """Where alerts go: a notification block, by its document id and `type/name` slug."""

    block_id: UUID
    slug: str


def crash_dead_runs(deployment: str, deployment_id: UUID, heartbeat_s: int) -> AutomationCore:
    """Prefect's recipe for zombie runs, for this deployment's runs: after a heartbeat, a run
    must send another (or end) within MISSED_HEARTBEATS heartbeats, or it is marked Crashed."""
    return AutomationCore(
        name=f"{deployment}: mark dead runs Crashed",
        description=f"a run of {deployment} that sent no heartbeat for {MISSED_HEARTBEATS * heartbeat_s} s died "
                    "with its machine or worker: end it Crashed, which frees its concurrency slot",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{end}" for end in RUN_ENDS)},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.id": f"prefect.deployment.{deployment_id}"},
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=MISSED_HEARTBEATS * heartbeat_s),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"no heartbeat for {MISSED_HEARTBEATS * heartbeat_s} s: the run's process died "
                    "(its machine or worker stopped); marked Crashed by the automation of `alexnet deploy`")])


def alert_on_decisions(deployment: str, deployment_id: UUID, target: AlertTarget) -> AutomationCore:
    """One notification per event the flow emits after the gate ran: promoted, rejected, drift."""
    return AutomationCore(
        name=f"{deployment}: alert on gate decisions and drift",
        description=f"notify {target.slug} when a run of {deployment} promotes or rejects a model or finds drift",
        trigger=EventTrigger(
            expect={*DECISION_EVENTS.values(), DRIFT_EVENT}, match={"prefect.resource.id": "alexnet.project.*"},
            match_related={"prefect.resource.id": f"prefect.deployment.{deployment_id}"},
            posture=Posture.Reactive, threshold=1, within=0),
        actions=[SendNotification(
            block_document_id=target.block_id, subject="{{ event.payload.headline }}",
            body=DECISION_BODY)])


def alert_on_failures(deployment: str, deployment_id: UUID, target: AlertTarget) -> AutomationCore:
    """One notification per run of the deployment that ends Failed, Crashed or TimedOut."""
    return AutomationCore(
        name=f"{deployment}: alert on failed runs",
        description=f"notify {target.slug} when a run of {deployment} fails, crashes or times out",
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{end}" for end in FAILURES}, match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.id": f"prefect.deployment.{deployment_id}"},
            posture=Posture.Reactive, threshold=1, within=0),
        actions=[SendNotification(
            block_document_id=target.block_id,
            subject=f"alexnet-pipeline {deployment}: " + FAILURE_SUBJECT, body=FAILURE_BODY)])


def alert_target(block_slug: str | None) -> AlertTarget | None:
    """The notification block alerts go through: `block_slug` (`type/name` of any Prefect
    notification block, e.g. `slack-webhook/ml-team`); else a custom-webhook block named
    WEBHOOK_BLOCK, saved from WEBHOOK_ENV's URL (kept as a block secret) when it is set, or
    saved earlier; None: no alerts."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if block_slug is None and url:
        block = CustomWebhookNotificationBlock(
            name=WEBHOOK_BLOCK, url="{{webhook_url}}", secrets={"webhook_url": url},
            json_data={"text": "{{subject}}\n{{body}}", "subject": "{{subject}}", "body": "{{body}}"})
        block_id = block.save(WEBHOOK_BLOCK, overwrite=True)
        return AlertTarget(block_id, f"{CustomWebhookNotificationBlock.get_block_type_slug()}/{WEBHOOK_BLOCK}")
    block_type, _, name = (block_slug or f"custom-webhook/{WEBHOOK_BLOCK}").partition("/")
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name, block_type)
        except ObjectNotFound:
            if block_slug is None:
                return None
            raise PipelineError(f"--alert-block {block_slug}: no such block on the Prefect server; create it "
                                "(e.g. `prefect block create slack-webhook`) or list them with `prefect block ls`") from None
    if "notify" not in (document.block_schema.capabilities if document.block_schema else []):
        raise PipelineError(f"--alert-block {block_slug}: a {block_type} block cannot send notifications; "
                            "use a notification block (slack-webhook, ms-teams-webhook, custom-webhook, ...)")
    return AlertTarget(document.id, f"{block_type}/{name}")


def ship(deployment: str, deployment_id: UUID, heartbeat_s: int, target: AlertTarget | None) -> list[str]:
    """Create the deployment's automations, replacing any of the same names; return their names."""
    automations = [crash_dead_runs(deployment, deployment_id, heartbeat_s)]
    if target is not None:
        automations += [alert_on_decisions(deployment, deployment_id, target),
                        alert_on_failures(deployment, deployment_id, target)]
    with get_client(sync_client=True) as client:
        for automation in automations:
            for existing in client.read_automations_by_name(automation.name):
                client.delete_automation(existing.id)
            client.create_automation(automation)
    for automation in automations:
        log.info("automation %r: %s", automation.name, automation.description)
    if target is None:
        log.info("alerts: off; set %s to a webhook URL (Slack, Teams, any HTTP endpoint) or pass --alert-block "
                 "TYPE/NAME of a Prefect notification block, then deploy again", WEBHOOK_ENV)
    return [automation.name for automation in automations]
