"""The py-aep project that a script works on, and the requests of the script host.

Each request of script_host.js reads or changes this project at once, so the simulator
renders, and the After Effects stand-in saves, exactly what the script left. Requests name
items and layers by their py-aep ids and properties by their 0-based path below the layer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import py_aep

from agent.simulator.script_values import (
    ScriptRequestError,
    coerce_value,
    encode_value,
    item_snapshot,
    layer_snapshot,
    project_snapshot,
    property_state,
    property_tree,
    write_value,
)

logger = logging.getLogger(__name__)

# Layer and item attributes a script may set: ExtendScript name, py-aep name, value kind.
_LAYER_ATTRIBUTES = {
    "name": ("name", "string"),
    "enabled": ("enabled", "boolean"),
    "comment": ("comment", "string"),
    "label": ("label", "label"),
    "inPoint": ("in_point", "number"),
    "outPoint": ("out_point", "number"),
    "startTime": ("start_time", "number"),
    "locked": ("locked", "boolean"),
    "shy": ("shy", "boolean"),
    "solo": ("solo", "boolean"),
    "guideLayer": ("guide_layer", "boolean"),
}
_ITEM_ATTRIBUTES = {
    "name": ("name", "string"),
    "comment": ("comment", "string"),
    "label": ("label", "label"),
}
_COMP_ATTRIBUTES = {
    "width": ("width", "size"),
    "height": ("height", "size"),
    "duration": ("duration", "positive"),
    "frameRate": ("frame_rate", "positive"),
    "pixelAspect": ("pixel_aspect", "positive"),
    "bgColor": ("bg_color", "color"),
    "workAreaStart": ("work_area_start", "number"),
    "workAreaDuration": ("work_area_duration", "positive"),
    "displayStartTime": ("display_start_time", "number"),
}
# After Effects compositions are 4 to 30,000 pixels on each side.
_COMP_SIZE = (4, 30000)


class ProjectSession:
    """The open project of one script run, which requests read and change.

    `file` is the path the project was opened from or saved to, None for an untitled one.
    """

    def __init__(self, project: Any | None = None, file: Path | None = None) -> None:
        self.project = project if project is not None else py_aep.new().project
        self.file = file
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "project": lambda _: self._snapshot(),
            "open": self._open,
            "newProject": self._new_project,
            "layers": self._layers,
            "properties": lambda request: property_tree(self._layer(request)),
            "setValue": self._set_value,
            "setValueAtTime": self._set_value_at_time,
            "valueAtTime": self._value_at_time,
            "setExpression": self._set_expression,
            "setExpressionEnabled": self._set_expression_enabled,
            "setLayer": self._set_layer,
            "setItem": self._set_item,
            "importFile": self._import_file,
            "replaceSource": self._replace_source,
            "replaceFootage": self._replace_footage,
            "save": self._save,
        }

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request and return its reply, with the error message when it failed."""
        reply_id = request.get("id")
        handler = self._handlers.get(str(request.get("call")))
        if handler is None:
            error = f"the script host sent an unknown request {request.get('call')!r}"
            return {"id": reply_id, "ok": False, "error": error}
        try:
            return {"id": reply_id, "ok": True, "result": handler(request)}
        except ScriptRequestError as error:
            return {"id": reply_id, "ok": False, "error": str(error)}
        except Exception as error:  # py-aep raises many types; the script gets each as an Error
            logger.debug("script request %s failed", request.get("call"), exc_info=True)
            return {
                "id": reply_id,
                "ok": False,
                "error": f"After Effects error: {type(error).__name__}: {error}",
            }

    def _snapshot(self) -> dict[str, Any]:
        return project_snapshot(self.project, str(self.file) if self.file else None)

    def _open(self, request: dict[str, Any]) -> dict[str, Any]:
        path = Path(_string(request, "path"))
        if not path.is_file():
            raise ScriptRequestError(f"Unable to open the project: {path} does not exist")
        try:
            self.project = py_aep.parse(path).project
        except Exception as error:  # py-aep raises many types for damaged files
            raise ScriptRequestError(
                f"After Effects error: the project {path} could not be opened: {error}"
            ) from error
        self.file = path
        return self._snapshot()

    def _new_project(self, request: dict[str, Any]) -> dict[str, Any]:
        self.project = py_aep.new().project
        self.file = None
        return self._snapshot()

    def _layers(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            str(layer.id): layer_snapshot(layer)
            for comp in self.project.compositions
            for layer in comp.layers
        }

    def _layer(self, request: dict[str, Any]) -> Any:
        layer_id = request.get("layer")
        try:
            if isinstance(layer_id, int):
                return self.project.layer_by_id(layer_id)
        except KeyError:
            pass
        raise ScriptRequestError(f"the layer with id {layer_id!r} no longer exists")

    def _item(self, request: dict[str, Any]) -> Any:
        item_id = request.get("item")
        item = self.project.items.get(item_id) if isinstance(item_id, int) else None
        if item is None:
            raise ScriptRequestError(f"the item with id {request.get('item')!r} does not exist")
        return item

    def _property(self, request: dict[str, Any]) -> Any:
        node = self._layer(request)
        path = request.get("path")
        if not isinstance(path, list) or not path:
            raise ScriptRequestError(f"invalid property path {path!r}")
        for index in path:
            children = getattr(node, "properties", [])
            if not isinstance(index, int) or not 0 <= index < len(children):
                raise ScriptRequestError(f"invalid property path {path!r}")
            node = children[index]
        if not isinstance(node, py_aep.Property):
            raise ScriptRequestError(f'"{node.name}" is a property group, not a property')
        return node

    def _set_value(self, request: dict[str, Any]) -> dict[str, Any]:
        prop = self._property(request)
        if prop.keyframes:
            raise ScriptRequestError(
                f'Unable to call "setValue": property "{prop.name}" has keyframes; '
                "use setValueAtTime"
            )
        write_value(prop, request.get("value"))
        return property_state(prop)

    def _set_value_at_time(self, request: dict[str, Any]) -> dict[str, Any]:
        prop = self._property(request)
        if prop.property_value_type == py_aep.PropertyValueType.TEXT_DOCUMENT:
            raise ScriptRequestError("setValueAtTime on Source Text is not supported")
        time = _number(request, "time")
        prop.set_value_at_time(time, coerce_value(prop.value, request.get("value"), prop.name))
        return property_state(prop)

    def _value_at_time(self, request: dict[str, Any]) -> Any:
        prop = self._property(request)
        return encode_value(prop.value_at_time(_number(request, "time")))

    def _set_expression(self, request: dict[str, Any]) -> dict[str, Any]:
        prop = self._property(request)
        if not prop.can_set_expression:
            raise ScriptRequestError(f'property "{prop.name}" cannot have an expression')
        prop.expression = _string(request, "expression")
        return property_state(prop)

    def _set_expression_enabled(self, request: dict[str, Any]) -> dict[str, Any]:
        prop = self._property(request)
        prop.expression_enabled = _boolean(request, "enabled")
        return property_state(prop)

    def _set_layer(self, request: dict[str, Any]) -> dict[str, Any]:
        layer = self._layer(request)
        attribute = str(request.get("attribute"))
        if attribute not in _LAYER_ATTRIBUTES:
            raise ScriptRequestError(f"layer attribute {attribute!r} is read-only here")
        name, kind = _LAYER_ATTRIBUTES[attribute]
        setattr(layer, name, _checked(request.get("value"), kind, attribute))
        return layer_snapshot(layer)

    def _set_item(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item(request)
        attribute = str(request.get("attribute"))
        known = dict(_ITEM_ATTRIBUTES)
        if isinstance(item, py_aep.CompItem):
            known |= _COMP_ATTRIBUTES
        if attribute not in known:
            raise ScriptRequestError(f"{item.type_name} attribute {attribute!r} is read-only here")
        name, kind = known[attribute]
        setattr(item, name, _checked(request.get("value"), kind, attribute))
        return item_snapshot(item)

    def _import_file(self, request: dict[str, Any]) -> dict[str, Any]:
        path = Path(_string(request, "path"))
        if not path.exists():
            raise ScriptRequestError(f"Unable to import the file: {path} does not exist")
        options = py_aep.ImportOptions(path)
        options.sequence = _boolean(request, "sequence")
        options.force_alphabetical = _boolean(request, "forceAlphabetical")
        item = self.project.import_file(options)
        return item_snapshot(item, with_layers=True)

    def _replace_source(self, request: dict[str, Any]) -> dict[str, Any]:
        layer = self._layer(request)
        item = self._item(request)
        if isinstance(layer, py_aep.TextLayer) or not isinstance(layer, py_aep.AVLayer):
            raise ScriptRequestError(
                f'Unable to call "replaceSource": layer "{layer.name}" has no source'
            )
        if not isinstance(item, py_aep.CompItem | py_aep.FootageItem):
            raise ScriptRequestError('Unable to call "replaceSource": the item is not an AVItem')
        layer.replace_source(item, _boolean(request, "fixExpressions"))
        return layer_snapshot(layer)

    def _replace_footage(self, request: dict[str, Any]) -> dict[str, Any]:
        item = self._item(request)
        if not isinstance(item, py_aep.FootageItem):
            raise ScriptRequestError(f'"{item.name}" is not a footage item')
        path = Path(_string(request, "path"))
        if not path.exists():
            raise ScriptRequestError(f"Unable to replace the footage: {path} does not exist")
        if _boolean(request, "sequence"):
            item.replace_with_sequence(path)
        else:
            item.replace(path)
        return item_snapshot(item)

    def _save(self, request: dict[str, Any]) -> dict[str, Any]:
        target = Path(_string(request, "path")).absolute()
        if not target.parent.is_dir():
            raise ScriptRequestError(f"Unable to save the project: {target.parent} does not exist")
        # py-aep refuses to overwrite a file, so the project is written next to the target and
        # moved over it, which also never leaves a half-written project behind.
        partial = target.with_name(f".aefarm-saving-{target.name}")
        partial.unlink(missing_ok=True)
        try:
            self.project.save(partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        self.file = target
        logger.info("saved project %s", target)
        return {"file": str(target)}


def _string(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str):
        raise ScriptRequestError(f"{key} must be a string, not {value!r}")
    return value


def _boolean(request: dict[str, Any], key: str) -> bool:
    return bool(request.get(key, False))


def _number(request: dict[str, Any], key: str) -> float:
    value = request.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ScriptRequestError(f"{key} must be a number, not {value!r}")
    return float(value)


def _checked(value: Any, kind: str, attribute: str) -> Any:
    """Return value as the attribute's kind takes it, or raise ScriptRequestError."""
    invalid = ScriptRequestError(f"{attribute} cannot be set to {value!r}")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        if not isinstance(value, str):
            raise invalid
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise invalid
        return value
    if kind == "label":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 16:
            raise invalid
        return py_aep.Label(value)
    if kind == "color":
        numbers = isinstance(value, list) and all(isinstance(c, int | float) for c in value)
        if not numbers or len(value) != 3:
            raise invalid
        return [float(channel) for channel in value]
    if not is_number:
        raise invalid
    if kind == "size":
        if not _COMP_SIZE[0] <= value <= _COMP_SIZE[1]:
            raise ScriptRequestError(
                f"{attribute} {value!r} is outside {_COMP_SIZE[0]} to {_COMP_SIZE[1]} pixels"
            )
        return int(value)
    if kind == "positive" and value <= 0:
        raise invalid
    return float(value)
