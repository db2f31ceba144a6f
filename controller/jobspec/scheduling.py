"""Parsing the fields that decide when and where a job renders: priority and tags.

Both job shapes accept both fields. nexrender defines them, and a Nexrender Cloud job on aefarm
needs them to take part in the same queue.
"""

from __future__ import annotations

import logging
from typing import Any

from controller.jobspec.fields import Fields, is_integer, present
from controller.jobspec.problems import Problems, describe, json_type, member

logger = logging.getLogger(__name__)

# The store keeps priorities as signed 32-bit integers.
MAX_PRIORITY = 2**31 - 1


def parse_priority(value: Any, path: str, problems: Problems) -> int | None:
    """Return priority as an integer. A float with no fraction, such as 5.0, is accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_integer(value):
        detail = "a whole number" if isinstance(value, float) else "a number"
        problems.add(
            path,
            f"priority must be {detail}, not {json_type(value)} {describe(value)}; "
            "higher priorities render first",
        )
        return None
    if abs(value) > MAX_PRIORITY:
        problems.add(
            path,
            f"priority {value} is out of range; give a number from -{MAX_PRIORITY} "
            f"to {MAX_PRIORITY}",
        )
        return None
    return int(value)


def parse_tags(value: Any, path: str, problems: Problems) -> list[str] | None:
    """Return tags from a comma list ("gpu, fast") or an array of strings, without duplicates.

    Surrounding whitespace and empty entries, as from a trailing comma, are dropped.
    """
    if isinstance(value, str):
        entries = value.split(",")
    elif isinstance(value, list):
        entries = []
        for index, entry in enumerate(value):
            if isinstance(entry, str):
                entries.append(entry)
            else:
                problems.add(member(path, index), f"a tag must be a string, not {describe(entry)}")
    else:
        problems.add(
            path,
            f'tags must be a comma list such as "gpu,fast", not {json_type(value)} '
            f"{describe(value)}",
        )
        return None
    tags: list[str] = []
    for entry in entries:
        tag = entry.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def take_scheduling(fields: Fields, problems: Problems) -> None:
    """Take priority and tags of a job, from either shape, into its JobSpec fields."""
    raw = fields.raw
    if present(raw, "priority"):
        priority = parse_priority(raw["priority"], fields.path("priority"), problems)
        if priority is not None:
            fields.put("priority", priority, "priority")
    if present(raw, "tags"):
        tags = parse_tags(raw["tags"], fields.path("tags"), problems)
        if tags is not None:
            fields.put("tags", tags, "tags")
