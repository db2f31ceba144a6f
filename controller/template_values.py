"""Check that a job's value has the shape a template property or controller takes.

Each check returns None when the value fits, or a phrase that describes what the property
takes ("takes a number"), for the caller to put after the property's name.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from controller import template_details as kinds

logger = logging.getLogger(__name__)

HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
# Fields of a Source Text value object, as agent/patch_values.py applies them.
TEXT_DOCUMENT_FIELDS = ("text", "fillColor", "strokeColor", "fontSize")

COLOR_PHRASE = (
    'takes a colour: [r, g, b] or [r, g, b, a] with each number from 0 to 1, or "#rrggbb"'
)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def numbers(value: Any, minimum: int, maximum: int) -> bool:
    """Tell whether value is an array of minimum to maximum numbers."""
    if not isinstance(value, list) or not minimum <= len(value) <= maximum:
        return False
    return all(is_number(item) for item in value)


def color_problem(value: Any) -> str | None:
    if isinstance(value, str) and HEX_COLOR.fullmatch(value):
        return None
    if numbers(value, 3, 4) and all(0 <= item <= 1 for item in value):
        return None
    return COLOR_PHRASE


def property_value_problem(kind: str, value: Any) -> str | None:
    """Check a data asset's value against the kind of the property it sets."""
    if kind == kinds.NUMBER:
        return None if is_number(value) else "takes a number"
    if kind == kinds.CHECKBOX:
        ok = isinstance(value, bool) or is_number(value)
        return None if ok else "takes true or false, or a number"
    if kind == kinds.VECTOR2:
        return None if numbers(value, 2, 2) else "takes an array of 2 numbers, such as [960, 540]"
    if kind == kinds.VECTOR3:
        if numbers(value, 2, 3):
            return None
        return "takes an array of 2 or 3 numbers, such as [960, 540] or [960, 540, 0]"
    if kind == kinds.COLOR:
        return color_problem(value)
    if kind == kinds.TEXT:
        return _text_document_problem(value)
    return None


def _text_document_problem(value: Any) -> str | None:
    phrase = (
        "takes a string, or an object with text (a string), fillColor and strokeColor "
        '(colours: [r, g, b] from 0 to 1 or "#rrggbb") and fontSize (a number)'
    )
    if isinstance(value, str) or is_number(value):
        return None
    if not isinstance(value, dict) or set(value) - set(TEXT_DOCUMENT_FIELDS):
        return phrase
    text = value.get("text", "")
    if not (isinstance(text, str) or is_number(text)):
        return phrase
    for key in ("fillColor", "strokeColor"):
        if key in value and color_problem(value[key]) is not None:
            return phrase
    if "fontSize" in value and not is_number(value["fontSize"]):
        return phrase
    return None
