"""Checks on the raw job that hold for every field: NUL characters and 32-bit whole numbers.

The render task carries frame numbers, layer indexes and timeouts as 32-bit integers, and After
Effects, ExtendScript and file systems cannot take a NUL character in a name, path or text. Both
are rejected at submit, before the job is stored, instead of failing it on an agent. Priority
has a range check of its own in scheduling.py.
"""

from __future__ import annotations

from typing import Any

from controller.jobspec.problems import Problems, member

INT32_MAX = 2**31 - 1

# Keys whose numbers end up in 32-bit fields of the render task, at any depth of the job.
INT32_KEYS = frozenset(
    {
        "frames",
        "frameStart",
        "frameEnd",
        "incrementFrame",
        "layerIndex",
        "hangTimeout",
        "maxRenderTime",
    }
)

# Subtrees passed on as JSON that no name, path or text comes from (a webhook's body, script
# parameters, which reach the script as JSON literals): any number and character is allowed.
OPAQUE_KEYS = frozenset({"webhook", "parameters"})
# Subtrees whose numbers are property values, not task fields.
VALUE_KEYS = frozenset({"value"})


def check_raw_limits(value: Any, path: str, problems: Problems, numbers: bool = True) -> None:
    """Report every NUL character, and every too-large number of an INT32_KEYS field."""
    if isinstance(value, dict):
        for key, item in value.items():
            item_path = member(path, str(key))
            if "\0" in str(key):
                problems.add(item_path, "a field name contains the NUL character; remove it")
            if key in OPAQUE_KEYS:
                continue
            if numbers and key in INT32_KEYS:
                _check_int32(item, item_path, problems)
            check_raw_limits(item, item_path, problems, numbers and key not in VALUE_KEYS)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_raw_limits(item, member(path, index), problems, numbers)
    elif isinstance(value, str) and "\0" in value:
        problems.add(
            path,
            "the text contains the NUL character (\\u0000), which names, paths and "
            "After Effects text cannot hold; remove it",
        )


def _check_int32(value: Any, path: str, problems: Problems) -> None:
    numbers = value if isinstance(value, list) else [value]
    for number in numbers:
        if isinstance(number, int) and not isinstance(number, bool) and abs(number) > INT32_MAX:
            problems.add(
                path,
                f"{number} is out of range; give a whole number from {-INT32_MAX} to {INT32_MAX}",
            )
            return
