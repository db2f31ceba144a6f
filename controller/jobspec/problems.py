"""Problems found in a submitted job, each named by the JSON path of the value at fault."""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

logger = logging.getLogger(__name__)

ROOT = "$"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_SHOWN_CHARS = 80


class Problem(NamedTuple):
    """One invalid value: its JSON path (such as $.assets[2].layerName) and what to do."""

    path: str
    reason: str


class JobRejected(ValueError):
    """A job that cannot be accepted, with every problem found in it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = [f"  {problem.path}: {problem.reason}" for problem in self.problems]
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"job rejected with {count} {noun}:\n" + "\n".join(lines))


class Problems:
    """The problems of one job, collected in the order they are found."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, path: str, reason: str) -> None:
        self.items.append(Problem(path, reason))

    def add_unless_reported(self, path: str, reason: str) -> None:
        """Add a problem unless one was already reported for the same path."""
        if all(problem.path != path for problem in self.items):
            self.add(path, reason)

    def raise_if_any(self) -> None:
        if self.items:
            raise JobRejected(self.items)


def member(path: str, key: str | int) -> str:
    """Return the path of a member: $.a[2] for an index, $.a.b or $.a["b c"] for a key."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def describe(value: object) -> str:
    """Return a short JSON rendering of a value for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[: _MAX_SHOWN_CHARS - 3] + "..."
    return text


def json_type(value: object) -> str:
    """Return the JSON name of a value's type: string, number, boolean, array, object, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def closest(value: str, choices: Iterable[str]) -> str | None:
    """Return the choice most like value (compared case-insensitively), or None."""
    by_lower = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


def quoted_list(choices: Iterable[str]) -> str:
    return ", ".join(json.dumps(choice) for choice in choices)


def unknown_choice(label: str, value: str, choices: Sequence[str]) -> str:
    """Return the reason for a value that is not one of choices, naming the closest one."""
    head = f"unknown {label} {json.dumps(value)}"
    valid = quoted_list(choices)
    suggestion = closest(value, choices)
    if suggestion is None:
        return f"{head}; valid values: {valid}"
    return f"{head}; did you mean {json.dumps(suggestion)}? Valid values: {valid}"
