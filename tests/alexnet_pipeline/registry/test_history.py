"""history: the append-only record of gate decisions and rollbacks, read back checked; which
version served at a time (at an event's exact second, and one second either side); command-line
times with and without a zone."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alexnet_pipeline.core.contracts import ContractError
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.registry.history import (
    append_event,
    blessing,
    now_utc,
    parse_time,
    read_history,
    rolled_back_weights,
    serving_at,
)


def _event(time: str, outcome: str = "promoted", version: str | None = "v1.0.0", serving: str | None = "v1.0.0",
           **more) -> dict:
    return {"time": time, "event": "rollback" if outcome == "rolled back" else "gate", "outcome": outcome,
            "version": version, "serving_version": serving, "data_fingerprint": "d1", "accuracy": 0.9,
            "weights_sha256": "w1", "replaced": None, "replaced_weights_sha256": None, "message": "m", **more}


EVENTS = [_event("2026-12-01T01:00:00+00:00"),
          _event("2026-12-01T02:00:00+00:00", "rejected", None, "v1.0.0"),
          _event("2026-12-02T03:00:00+00:00", "promoted", "v2.0.0", "v2.0.0", data_fingerprint="d2",
                 weights_sha256="w2"),
          _event("2026-12-03T04:00:00+00:00", "rolled back", "v1.0.0", "v1.0.0", replaced="v2.0.0",
                 replaced_weights_sha256="w2", message="mislabelled")]


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "reports" / "model_history.jsonl"
    for event in EVENTS:
        append_event(path, event)
    return path


def test_events_are_appended_one_json_line_each_and_read_back(history: Path) -> None:
    lines = history.read_text().splitlines()
    assert [json.loads(line) for line in lines] == EVENTS
    assert [event.model_dump() for event in read_history(history)] == EVENTS
    assert read_history(history.parent / "absent.jsonl") == []


def test_a_file_without_its_last_newline_still_gets_whole_lines(history: Path) -> None:
    history.write_text(history.read_text().rstrip("\n"))
    append_event(history, EVENTS[0])
    assert len(read_history(history)) == 5


def test_a_bad_event_is_refused_and_the_file_stays(history: Path) -> None:
    before = history.read_bytes()
    with pytest.raises(ContractError) as refused:
        append_event(history, {**EVENTS[0], "outcome": "maybe"})
    assert str(refused.value) == (f"{history}: refusing to add a history event: input should be 'promoted', "
                                  "'rejected', 'already blessed' or 'rolled back'")
    assert history.read_bytes() == before


def test_a_malformed_line_is_named(history: Path) -> None:
    lines = history.read_text().splitlines()
    history.write_text("\n".join([lines[0], json.dumps({**EVENTS[1], "time": 5}), *lines[2:]]) + "\n")
    with pytest.raises(ContractError) as malformed:
        read_history(history)
    assert str(malformed.value) == (f"{history}: line 2 is not a history event: time input should be a valid "
                                    "string; restore the file from git (git checkout -- FILE)")
    bad_nested = {**EVENTS[1], "replaced": {"a": 1}}
    history.write_text("\n".join([lines[0], json.dumps(bad_nested)]) + "\n")
    with pytest.raises(ContractError, match=r": line 2 is not a history event: replaced input should be a valid string;"):
        read_history(history)


def test_blank_lines_are_skipped(history: Path) -> None:
    lines = history.read_text().splitlines()
    history.write_text("\n".join([lines[0], "", "  ", *lines[1:]]) + "\n")
    assert [event.model_dump() for event in read_history(history)] == EVENTS


@pytest.mark.parametrize(("when", "serving"), [
    ("2026-12-01T00:59:59+00:00", None), ("2026-12-01T01:00:00+00:00", "v1.0.0"),
    ("2026-12-02T02:59:59+00:00", "v1.0.0"), ("2026-12-02T03:00:00+00:00", "v2.0.0"),
    ("2026-12-03T03:59:59+00:00", "v2.0.0"), ("2026-12-03T04:00:00+00:00", "v1.0.0"),
    ("2026-12-03T04:00:01+00:00", "v1.0.0")])
def test_serving_at_a_time_is_the_last_event_at_or_before_it(history: Path, when: str, serving: str | None) -> None:
    event = serving_at(read_history(history), datetime.fromisoformat(when))
    assert (event.serving_version if event else None) == serving


def test_blessings_and_rolled_back_weights(history: Path) -> None:
    events = read_history(history)
    assert blessing(events, "v2.0.0").data_fingerprint == "d2"
    assert blessing(events, "v1.0.0").time == "2026-12-01T01:00:00+00:00"  # not the rollback to it
    assert blessing(events, "v3.0.0") is None
    assert {digest: event.message for digest, event in rolled_back_weights(events).items()} == {"w2": "mislabelled"}


def test_times_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30, no daylight saving
    time.tzset()
    try:
        times = [parse_time(text) for text in ("2026-12-01T02:00Z", "2026-12-01T03:00+01:00",
                                               "2026-12-01 07:30")]  # the last naive: local time
    finally:
        monkeypatch.undo()
        time.tzset()
    assert times == [datetime(2026, 12, 1, 2, tzinfo=UTC)] * 3
    assert [when.isoformat() for when in times] == ["2026-12-01T02:00:00+00:00"] * 3  # said in UTC
    with pytest.raises(PipelineError) as refused:
        parse_time("last tuesday")
    assert str(refused.value) == ("--at 'last tuesday': not a time; give ISO 8601, e.g. 2026-12-01T02:00 "
                                  "(local time) or 2026-12-01T02:00Z (UTC)")


def test_now_is_utc_to_the_second() -> None:
    stamp = datetime.fromisoformat(now_utc())
    assert stamp.utcoffset() == timedelta(0) and stamp.microsecond == 0
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 5
