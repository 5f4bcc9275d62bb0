"""`paths.history`: every gate decision and rollback, one JSON line each, appended and never
rewritten (a DVC output kept between runs and committed with the metrics). `alexnet models
history` lists it, `--at` answers which version was serving at a time, and the gate reads it to
refuse weights that a rollback took out of serving."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alexnet_pipeline.core import atomic
from alexnet_pipeline.core.contracts import ContractError, HistoryEvent
from alexnet_pipeline.errors import PipelineError


def now_utc() -> str:
    """The current time as the history writes it: ISO 8601, UTC, whole seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_history(path: Path) -> list[HistoryEvent]:
    """The events in `path`, oldest first; none when it does not exist yet. A malformed line is a
    ContractError naming the file and the line."""
    if not path.exists():
        return []
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(HistoryEvent.model_validate_json(line))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise ContractError(f"{path}: line {number} is not a history event: {where} {problem['msg'].lower()}; "
                                "restore the file from git (git checkout -- FILE)") from None
    return events


def append_event(path: Path, event: dict[str, Any]) -> HistoryEvent:
    """Check `event` and add it as the file's last line; the file is replaced atomically, so a
    failure leaves the history as it was."""
    try:
        checked = HistoryEvent.model_validate(event)
    except ValidationError as exc:
        raise ContractError(f"{path}: refusing to add a history event: {exc.errors()[0]['msg'].lower()}") from None
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    atomic.write_text(path, existing + json.dumps(checked.model_dump(mode="json")) + "\n")
    return checked


def parse_time(text: str) -> datetime:
    """A time given on the command line, ISO 8601; without a zone it is this machine's local time."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PipelineError(f"--at {text!r}: not a time; give ISO 8601, e.g. 2026-12-01T02:00 (local time) "
                            "or 2026-12-01T02:00Z (UTC)") from None
    return when.astimezone(UTC)  # a naive time is taken as local time


def serving_at(events: list[HistoryEvent], when: datetime) -> HistoryEvent | None:
    """The last event at or before `when` (its serving_version served then); None before the first."""
    earlier = [event for event in events if datetime.fromisoformat(event.time) <= when]
    return earlier[-1] if earlier else None


def blessing(events: list[HistoryEvent], version: str) -> HistoryEvent | None:
    """The gate decision that promoted `version` (its data, accuracy and weights)."""
    return next((event for event in events if event.event == "gate" and event.outcome == "promoted"
                 and event.version == version), None)


def rolled_back_weights(events: list[HistoryEvent]) -> dict[str, HistoryEvent]:
    """Weights digests a rollback took out of serving, with that rollback."""
    return {event.replaced_weights_sha256: event for event in events
            if event.event == "rollback" and event.replaced_weights_sha256}
