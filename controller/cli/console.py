"""Writing JSON and messages to the terminal."""

from __future__ import annotations

import json
import logging
import sys
from typing import IO, Any

logger = logging.getLogger(__name__)


def print_json(value: Any, stream: IO[str] | None = None) -> None:
    """Print one JSON document, indented for people."""
    target = stream or sys.stdout
    target.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    target.flush()


def print_json_line(value: Any, stream: IO[str] | None = None) -> None:
    """Print one JSON document on one line, for output that contains several (JSON Lines)."""
    target = stream or sys.stdout
    target.write(json.dumps(value, ensure_ascii=False) + "\n")
    target.flush()


def print_error(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
