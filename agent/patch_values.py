"""Set a py-aep property from a job's JSON value: numbers, arrays, colours and text documents."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from agent.errors import LeaseFailure

logger = logging.getLogger(__name__)

HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def set_value(prop: Any, value: Any, where: str) -> None:
    if prop.match_name == "ADBE Text Document":
        set_text_document(prop.value, value, where)
        return

    try:
        prop.value = coerce(prop.value, value)
    except (TypeError, ValueError, OverflowError, AttributeError, NotImplementedError) as error:
        raise LeaseFailure(
            "unsupported_property", f"cannot set {where} to {json.dumps(value)[:80]}: {error}"
        ) from error


def set_text_document(document: Any, value: Any, where: str) -> None:
    """Set a text document from a string or {"text", "fillColor", "strokeColor", "fontSize"}.

    py-aep rejects a new TextDocument on a static text value, so the document is changed in
    place.
    """
    fields = value if isinstance(value, dict) else {"text": value}
    unknown = sorted(set(fields) - set(TEXT_DOCUMENT_FIELDS))
    text = fields.get("text", document.text)
    if unknown or not isinstance(text, str | int | float):
        raise LeaseFailure(
            "unsupported_property",
            f"{where} takes a string or an object with {', '.join(TEXT_DOCUMENT_FIELDS)}, "
            f"not {json.dumps(value)[:80]}",
        )
    document.text = str(text)
    for key, attribute in TEXT_DOCUMENT_FIELDS.items():
        if key == "text" or key not in fields:
            continue
        try:
            setattr(document, attribute, coerce(getattr(document, attribute), fields[key]))
        except (TypeError, ValueError, OverflowError, AttributeError) as error:
            raise LeaseFailure(
                "unsupported_property", f"cannot set {key} of {where}: {error}"
            ) from error


# Fields of a Source Text value object and the py-aep TextDocument attributes they set.
TEXT_DOCUMENT_FIELDS = {
    "text": "text",
    "fillColor": "fill_color",
    "strokeColor": "stroke_color",
    "fontSize": "font_size",
}


def coerce(current: Any, value: Any) -> Any:
    """Shape a JSON value like the property's current value: floats, padded dimensions.

    A colour given as "#rrggbb" becomes [r, g, b] from 0 to 1 on a property whose value is a
    list (a colour property).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and isinstance(current, list) and HEX_COLOR.fullmatch(value):
        digits = value.lstrip("#")
        value = [int(digits[i : i + 2], 16) / 255 for i in range(0, 6, 2)]
    if isinstance(value, int | float) and isinstance(current, float):
        return float(value)
    if isinstance(value, list) and isinstance(current, list):
        numbers = [float(v) for v in value]
        # [x, y] on a property stored as [x, y, z] keeps the current z.
        return numbers + [float(v) for v in current[len(numbers) :]]
    return value
