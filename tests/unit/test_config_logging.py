"""Log lines as JSON, and in journald's form when systemd runs the process."""

from __future__ import annotations

import json
import logging

import pytest

from agent import logformat as agent_logformat
from agent.lease_context import LeaseContext, current_lease
from controller import logformat


def record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("controller.test", level, __file__, 1, message, None, None)
    for name, value in extra.items():
        setattr(entry, name, value)
    return entry


def test_json_line_carries_render_ids() -> None:
    handler = logformat.make_handler("json")
    line = json.loads(
        handler.format(record("rendered", job_id="j1", lease_id="l1", attempt=2, agent_id="a"))
    )

    assert line["message"] == "rendered"
    assert line["level"] == "info"
    assert line["job_id"] == "j1"
    assert line["lease_id"] == "l1"
    assert line["attempt"] == 2
    assert line["agent_id"] == "a"


def test_json_line_without_render_has_no_ids() -> None:
    line = json.loads(logformat.make_handler("json").format(record("started")))

    assert "job_id" not in line
    assert line["logger"] == "controller.test"


def test_journald_lines_have_priority_and_no_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    handler = logformat.make_handler("text")
    entry = record("store failed", logging.ERROR)
    handler.filter(entry)

    assert handler.format(entry) == "<3>controller.test: store failed"


def test_plain_text_lines_keep_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    handler = logformat.make_handler("text")
    entry = record("listening")
    handler.filter(entry)

    assert handler.format(entry).endswith("INFO controller.test: listening")
    assert not handler.format(entry).startswith("<")


def test_agent_json_takes_ids_from_lease_context() -> None:
    handler = agent_logformat.make_handler("json")
    token = current_lease.set(LeaseContext("lease-9", "job-9", 3, "agent-9"))
    try:
        entry = record("frame 4")
        handler.filter(entry)
    finally:
        current_lease.reset(token)
    line = json.loads(handler.format(entry))

    assert line["job_id"] == "job-9"
    assert line["lease_id"] == "lease-9"
    assert line["attempt"] == 3
    assert line["agent_id"] == "agent-9"
