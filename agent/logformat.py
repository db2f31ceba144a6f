"""Log output of the agent: text or JSON lines, and journald-friendly under systemd.

Under systemd (JOURNAL_STREAM is set) text lines carry no timestamp, because journald adds
its own, and start with the syslog priority prefix `<N>` that journald reads as the level.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from agent.lease_context import LOG_FORMAT, LeaseContextFilter

logger = logging.getLogger(__name__)

LOG_FORMATS = ("text", "json")
# Record attributes that name a render; a JSON line carries each one that is set.
RENDER_FIELDS = ("job_id", "lease_id", "attempt", "agent_id")
# logging level -> syslog priority (sd-daemon(3)).
SYSLOG_PRIORITIES = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "INFO": 6, "DEBUG": 7}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (Unix seconds), level, logger, message, ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in RENDER_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _PriorityFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.syslog_priority = SYSLOG_PRIORITIES.get(record.levelname, 6)
        return True


def under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def make_handler(log_format: str, text_format: str = LOG_FORMAT) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    # Adds job_id, lease_id, attempt and agent_id to every record logged for a render.
    handler.addFilter(LeaseContextFilter())
    handler.addFilter(_PriorityFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif under_journald():
        journal = text_format.replace("%(asctime)s ", "").replace("%(levelname)s ", "")
        handler.setFormatter(logging.Formatter("<%(syslog_priority)d>" + journal))
    else:
        formatter = logging.Formatter(text_format)
        handler.setFormatter(formatter)
    return handler


def configure(log_format: str, level: str) -> None:
    """Replace the root logger's handlers with one of log_format at level."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper())
