"""Checks on the raw job that hold for every field: text, nesting depth and number ranges.

The render task carries frame numbers, layer indexes and timeouts as 32-bit integers, and After
Effects, ExtendScript and file systems cannot take a NUL character in a name, path or text. Both
are rejected at submit, before the job is stored, instead of failing it on an agent. Priority
has a range check of its own in scheduling.py.

JSON text can also carry what the controller cannot store or send on: an unpaired UTF-16
surrogate (such as "\\ud800"), which UTF-8 cannot encode, arrays and objects nested deeper
than the spec's JSON serializer goes, and numbers beyond the range of a double.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from controller.jobspec.problems import Problems, member

INT32_MAX = 2**31 - 1
# Levels of arrays and objects a job may nest. Ten levels of nested jobs take about 50, and
# pydantic's JSON serializer, which stores the spec, stops at about 250 levels.
MAX_DEPTH = 100

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
# parameters, which reach the script as JSON literals): any number and character is allowed,
# except the surrogates, depths and non-finite numbers that JSON cannot carry on.
OPAQUE_KEYS = frozenset({"webhook", "parameters"})
# Subtrees whose numbers are property values, not task fields. The agent sets them as doubles.
VALUE_KEYS = frozenset({"value"})

_SURROGATE_REASON = (
    "contains an unpaired UTF-16 surrogate (\\ud800 to \\udfff), which is not text and cannot "
    "be stored; remove it or pair it"
)


def check_unicode(value: Any, path: str, problems: Problems) -> bool:
    """Report every string and key with an unpaired UTF-16 surrogate; return True if none has.

    A problem's path escapes the surrogate. The caller should stop at False, because later
    messages quote the job's text, and text with a surrogate cannot be encoded to send them.
    """
    clean = True
    # Iterative, because the JSON decoder accepts deeper nesting than Python's recursion limit.
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, at = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                name = str(key)
                if has_unpaired_surrogate(name):
                    problems.add(f"{at}[{json.dumps(name)}]", f"the field name {_SURROGATE_REASON}")
                    clean = False
                else:
                    pending.append((child, member(at, name)))
        elif isinstance(item, list):
            pending.extend((child, member(at, index)) for index, child in enumerate(item))
        elif isinstance(item, str) and has_unpaired_surrogate(item):
            problems.add(at, f"the text {_SURROGATE_REASON}")
            clean = False
    return clean


def has_unpaired_surrogate(text: str) -> bool:
    """Tell whether text has a code point from U+D800 to U+DFFF, which UTF-8 cannot encode.

    The JSON decoder joins a valid pair such as "\\ud83c\\udfac" into one code point, so every
    surrogate left in a decoded string is unpaired.
    """
    return any("\ud800" <= character <= "\udfff" for character in text)


def check_raw_limits(
    value: Any,
    path: str,
    problems: Problems,
    *,
    numbers: bool = True,
    opaque: bool = False,
    depth: int = 0,
) -> None:
    """Report NUL characters, nesting past MAX_DEPTH and numbers out of range.

    numbers is False inside a value subtree, where INT32_KEYS mean nothing and every number
    must fit a double. opaque is True inside an OPAQUE_KEYS subtree, which may hold NUL.
    """
    if depth > MAX_DEPTH:
        problems.add(
            path,
            f"arrays and objects are nested more than {MAX_DEPTH} levels deep here; "
            "flatten the value",
        )
        return
    if isinstance(value, dict):
        for key, item in value.items():
            item_path = member(path, str(key))
            if "\0" in str(key) and not opaque:
                problems.add(item_path, "a field name contains the NUL character; remove it")
            if numbers and not opaque and key in INT32_KEYS:
                _check_int32(item, item_path, problems)
            check_raw_limits(
                item,
                item_path,
                problems,
                numbers=numbers and key not in VALUE_KEYS,
                opaque=opaque or key in OPAQUE_KEYS,
                depth=depth + 1,
            )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_raw_limits(
                item, member(path, index), problems, numbers=numbers, opaque=opaque, depth=depth + 1
            )
    elif isinstance(value, str) and "\0" in value and not opaque:
        problems.add(
            path,
            "the text contains the NUL character (\\u0000), which names, paths and "
            "After Effects text cannot hold; remove it",
        )
    elif isinstance(value, float) and not math.isfinite(value):
        # The JSON decoder reads a number beyond the range of a double, such as 1e400, as inf.
        problems.add(path, f"the number is out of range; give a number from -{_MAX} to {_MAX}")
    elif _is_integer(value) and not numbers and abs(value) > sys.float_info.max:
        problems.add(
            path,
            f"{_digits(value)} is out of range for a property value; give a number from "
            f"-{_MAX} to {_MAX}",
        )


_MAX = f"{sys.float_info.max:.6g}"


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _digits(number: int) -> str:
    """Return a short form of a huge integer for a message: its sign and number of digits."""
    sign = "-" if number < 0 else ""
    # str() of an integer with more than 4300 digits raises ValueError, so count by logarithm.
    return f"{sign}a {int(math.log10(abs(number))) + 1}-digit number"


def _check_int32(value: Any, path: str, problems: Problems) -> None:
    numbers = value if isinstance(value, list) else [value]
    for number in numbers:
        if isinstance(number, int) and not isinstance(number, bool) and abs(number) > INT32_MAX:
            problems.add(
                path,
                f"{number} is out of range; give a whole number from {-INT32_MAX} to {INT32_MAX}",
            )
            return
