"""Snapshots of a py-aep project for the script host, and the values that scripts set.

The script host (script_host.js) mirrors After Effects objects from these JSON snapshots:
items, layers (top first, as in ExtendScript) and, when a script first touches a layer's
properties, that layer's property tree. Property values travel as JSON: numbers, arrays of
numbers, and text documents as {"$type": "TextDocument", field: value}. A value of another
kind is sent as {"$type": "unsupported", "description": ...}, which the script cannot read.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import py_aep

logger = logging.getLogger(__name__)


class ScriptRequestError(Exception):
    """A request that After Effects would reject; the script gets the message as an Error."""


# ExtendScript TextDocument fields and the py-aep TextDocument attributes they read and set.
TEXT_DOCUMENT_FIELDS = {
    "text": "text",
    "font": "font",
    "fontSize": "font_size",
    "fillColor": "fill_color",
    "strokeColor": "stroke_color",
    "strokeWidth": "stroke_width",
    "applyFill": "apply_fill",
    "applyStroke": "apply_stroke",
    "strokeOverFill": "stroke_over_fill",
    "justification": "justification",
    "tracking": "tracking",
    "leading": "leading",
    "baselineShift": "baseline_shift",
    "fauxBold": "faux_bold",
    "fauxItalic": "faux_italic",
    "allCaps": "all_caps",
    "smallCaps": "small_caps",
}
_BOOLEAN_FIELDS = frozenset(
    {"applyFill", "applyStroke", "strokeOverFill", "fauxBold", "fauxItalic", "allCaps", "smallCaps"}
)
_COLOR_FIELDS = frozenset({"fillColor", "strokeColor"})
_JUSTIFICATIONS = {int(member): member for member in py_aep.ParagraphJustification}

_LAYER_KINDS = (
    (py_aep.TextLayer, "text"),
    (py_aep.ShapeLayer, "shape"),
    (py_aep.CameraLayer, "camera"),
    (py_aep.LightLayer, "light"),
    (py_aep.AVLayer, "av"),
)


def project_snapshot(project: Any, file: str | None) -> dict[str, Any]:
    """Return the project's items (without the root folder) and its render queue."""
    root = project.root_folder
    queue = project.render_queue.items if project.render_queue is not None else []
    return {
        "file": file,
        "root": item_snapshot(root),
        "items": [
            item_snapshot(item, with_layers=True)
            for item in project.items.values()
            if item is not root
        ],
        "renderQueue": [entry.comp.id for entry in queue if entry.comp is not None],
    }


def item_snapshot(item: Any, *, with_layers: bool = False) -> dict[str, Any]:
    parent = getattr(item, "parent_folder", None)
    spec: dict[str, Any] = {
        "id": item.id,
        "type": item.type_name,
        "name": item.name,
        "comment": item.comment or "",
        "label": int(item.label),
        "parentFolder": parent.id if parent is not None else None,
    }
    if isinstance(item, py_aep.CompItem | py_aep.FootageItem):
        spec |= {
            "width": int(item.width),
            "height": int(item.height),
            "duration": _number(item.duration),
            "frameRate": _number(item.frame_rate),
            "pixelAspect": _number(item.pixel_aspect),
            "hasVideo": bool(item.has_video),
            "hasAudio": bool(item.has_audio),
            "footageMissing": bool(getattr(item, "footage_missing", False)),
        }
    if isinstance(item, py_aep.CompItem):
        spec |= {
            "bgColor": [_number(value) for value in list(item.bg_color)[:3]],
            "displayStartTime": _number(item.display_start_time),
            "workAreaStart": _number(item.work_area_start),
            "workAreaDuration": _number(item.work_area_duration),
        }
        if with_layers:
            spec["layers"] = [layer_snapshot(layer) for layer in item.layers]
    if isinstance(item, py_aep.FootageItem):
        spec["mainSource"] = _source_snapshot(item.main_source)
    return spec


def _source_snapshot(source: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "isStill": bool(getattr(source, "is_still", False)),
        "hasAlpha": bool(getattr(source, "has_alpha", False)),
    }
    if isinstance(source, py_aep.SolidSource):
        return spec | {"kind": "solid", "color": [_number(v) for v in list(source.color)[:3]]}
    file = getattr(source, "file", "") or ""
    if isinstance(source, py_aep.PlaceholderSource) or not file:
        return spec | {"kind": "placeholder", "file": None}
    return spec | {"kind": "file", "file": str(file)}


def layer_snapshot(layer: Any) -> dict[str, Any]:
    kind = next((name for cls, name in _LAYER_KINDS if isinstance(layer, cls)), "layer")
    source = getattr(layer, "source", None) if kind != "text" else None
    parent = getattr(layer, "parent", None)
    return {
        "id": layer.id,
        "name": layer.name,
        "kind": kind,
        "enabled": bool(layer.enabled),
        "comment": layer.comment or "",
        "label": int(layer.label),
        "inPoint": _number(layer.in_point),
        "outPoint": _number(layer.out_point),
        "startTime": _number(layer.start_time),
        "locked": bool(layer.locked),
        "shy": bool(layer.shy),
        "solo": bool(layer.solo),
        "guideLayer": bool(layer.guide_layer),
        "nullLayer": bool(layer.null_layer),
        "adjustmentLayer": bool(getattr(layer, "adjustment_layer", False)),
        "threeDLayer": bool(getattr(layer, "three_d_layer", False)),
        "hasVideo": bool(getattr(layer, "has_video", False)),
        "hasAudio": bool(getattr(layer, "has_audio", False)),
        "isNameSet": bool(getattr(layer, "is_name_set", True)),
        "parent": parent.id if parent is not None else None,
        "source": source.id if source is not None else None,
        "width": int(getattr(layer, "width", 0) or 0),
        "height": int(getattr(layer, "height", 0) or 0),
    }


def property_tree(group: Any) -> list[dict[str, Any]]:
    """Return the children of a layer or property group, recursively."""
    return [property_node(child) for child in group.properties]


def property_node(prop: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": prop.name,
        "matchName": prop.match_name,
        "isEffect": bool(getattr(prop, "is_effect", False)),
        "isMask": bool(getattr(prop, "is_mask", False)),
        "enabled": bool(getattr(prop, "enabled", True)),
    }
    if not isinstance(prop, py_aep.Property):
        indexed = prop.property_type == py_aep.PropertyType.INDEXED_GROUP
        return spec | {"kind": "indexed" if indexed else "group", "children": property_tree(prop)}
    return spec | {"kind": "property"} | property_state(prop)


def property_state(prop: Any) -> dict[str, Any]:
    """Return the parts of a property that a script's changes can alter."""
    try:
        value = encode_value(prop.value)
    except Exception as error:  # py-aep raises many types for values it cannot decode
        value = {"$type": "unsupported", "description": f"value py-aep cannot read ({error})"}
    return {
        "valueType": int(prop.property_value_type),
        "value": value,
        "expression": prop.expression or "",
        "expressionEnabled": bool(prop.expression_enabled),
        "canSetExpression": bool(prop.can_set_expression),
        "numKeys": len(prop.keyframes),
    }


def encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, py_aep.TextDocument):
        return _encode_text_document(value)
    if isinstance(value, list | tuple) and all(_is_number(item) for item in value):
        return [_number(item) for item in value]
    return {"$type": "unsupported", "description": type(value).__name__}


def _encode_text_document(document: Any) -> dict[str, Any]:
    encoded: dict[str, Any] = {"$type": "TextDocument"}
    for field, attribute in TEXT_DOCUMENT_FIELDS.items():
        try:
            value = getattr(document, attribute)
        except (AttributeError, ValueError):
            continue
        if field == "text":
            value = str(value)
        elif field == "justification":
            value = int(value)
        elif field in _COLOR_FIELDS:
            value = [_number(item) for item in list(value)[:3]]
        elif field in _BOOLEAN_FIELDS:
            value = bool(value)
        elif field != "font":
            value = _number(value)
        encoded[field] = value
    return encoded


def write_value(prop: Any, value: Any) -> None:
    """Set a property's static value from a script's JSON value, as Property.setValue does."""
    value_type = prop.property_value_type
    if value_type == py_aep.PropertyValueType.TEXT_DOCUMENT:
        write_text_document(prop.value, value)
        return
    if value_type == py_aep.PropertyValueType.NO_VALUE:
        raise ScriptRequestError(f'Unable to call "setValue": property "{prop.name}" has no value')
    prop.value = coerce_value(prop.value, value, prop.name)


def coerce_value(current: Any, value: Any, name: str) -> Any:
    """Shape a script's value like the property's current one, or raise ScriptRequestError.

    An array shorter than the current value keeps the current trailing numbers, so [x, y]
    sets the position of a layer whose value is [x, y, z].
    """
    where = f'Unable to call "setValue" because of parameter 1 for property "{name}".'
    if _is_number(current):
        if not _is_number(value) and not isinstance(value, bool):
            raise ScriptRequestError(f"{where} Expected a number, not {_describe(value)}.")
        return int(value) if isinstance(current, int) else float(value)
    if isinstance(current, list):
        if not isinstance(value, list) or not all(_is_number(item) for item in value):
            raise ScriptRequestError(
                f"{where} Expected an array of {len(current)} numbers, not {_describe(value)}."
            )
        if not min(2, len(current)) <= len(value) <= len(current):
            raise ScriptRequestError(
                f"{where} Expected an array of {len(current)} numbers, not {len(value)}."
            )
        numbers = [float(item) for item in value]
        return numbers + [float(item) for item in current[len(numbers) :]]
    raise ScriptRequestError(
        f"{where} The aerender simulator cannot set values of type {type(current).__name__}."
    )


def write_text_document(document: Any, value: Any) -> None:
    """Apply a string, or the fields a script's TextDocument has, to a py-aep TextDocument.

    py-aep rejects a new TextDocument on a static text property, so the fields are changed in
    place, and only those that differ.
    """
    if isinstance(value, str) or _is_number(value):
        value = {"text": str(value)}
    if not isinstance(value, dict):
        raise ScriptRequestError(
            'Unable to call "setValue" because of parameter 1: a Source Text value is a '
            f"TextDocument or a string, not {_describe(value)}"
        )
    for field, attribute in TEXT_DOCUMENT_FIELDS.items():
        if field not in value:
            continue
        new = _text_field(field, value[field])
        try:
            if getattr(document, attribute) != new:
                setattr(document, attribute, new)
        except (AttributeError, TypeError, ValueError) as error:
            raise ScriptRequestError(f"cannot set TextDocument.{field}: {error}") from error


def _text_field(field: str, value: Any) -> Any:
    problem = f"TextDocument.{field} cannot be {_describe(value)}"
    if field in ("text", "font"):
        if not isinstance(value, str) or (field == "font" and not value):
            raise ScriptRequestError(f"{problem}: give a string")
        return value
    if field in _BOOLEAN_FIELDS:
        if not isinstance(value, bool):
            raise ScriptRequestError(f"{problem}: give true or false")
        return value
    if field in _COLOR_FIELDS:
        if not isinstance(value, list) or len(value) < 3 or not all(map(_is_number, value)):
            raise ScriptRequestError(f"{problem}: give [red, green, blue] from 0 to 1")
        return [float(item) for item in value[:3]]
    if field == "justification":
        if not _is_number(value) or int(value) not in _JUSTIFICATIONS:
            raise ScriptRequestError(f"{problem}: give a ParagraphJustification value")
        return _JUSTIFICATIONS[int(value)]
    if not _is_number(value) or (field == "fontSize" and value <= 0):
        raise ScriptRequestError(f"{problem}: give a number")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float | int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


def _describe(value: Any) -> str:
    if isinstance(value, dict) and value.get("$type") == "TextDocument":
        return "a TextDocument"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
