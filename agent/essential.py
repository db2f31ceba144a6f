"""Set values through Essential Graphics controllers with py-aep 0.18.

A controller of a composition (CompItem.motion_graphics_controllers) points at the property it
exposes: a layer of that composition (source_layer_id) and a path of match names from the layer
down to the property (source_property_path). Setting a composition's controller sets that
property, so every layer that shows the composition changes.

For one precomposition layer, After Effects keeps the layer's own values as Essential
Properties overrides. When the layer has an override for the controller, the override is set.
Otherwise the layer gets its own copy of the composition (CompItem.duplicate, which also copies
the controllers) and the property is set in the copy, so other layers showing the composition
keep its values. A layer that is the only one showing the composition is changed in place.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import py_aep
from py_aep.resolvers.essential_properties import resolve_essential_property_controller

from agent.errors import LeaseFailure
from agent.patch_values import HEX_COLOR, set_value

logger = logging.getLogger(__name__)

# EssentialGraphicsController.controller_type ids and the names messages use for them.
CONTROLLER_TYPES = {
    1: "checkbox",
    2: "slider",
    3: "angle",
    4: "color",
    5: "point",
    6: "text",
    8: "comment",
    9: "multidimensional",
    10: "group",
    13: "dropdown",
    14: "media",
}
_OVERRIDES = "ADBE Layer Overrides"


def set_composition_controller(comp: Any, name: str, value: Any) -> None:
    """Set the property that comp's controller name exposes, for every layer showing comp."""
    controller = find_controller(comp, name)
    _set_controlled(comp, controller, value, f"controller {name!r} of composition {comp.name!r}")


def set_layer_controller(
    project: Any, comp: Any, layer: Any, name: str, value: Any, copies: MutableMapping[int, Any]
) -> str:
    """Set a precomposition layer's own value of controller name; return what was set.

    copies maps id(layer) to the composition that layer shows after an earlier call, so two
    assets on one layer share one copy.
    """
    where = f"controller {name!r} of layer {layer.name!r} in composition {comp.name!r}"
    source = getattr(layer, "source", None)
    if not isinstance(source, py_aep.CompItem):
        raise LeaseFailure(
            "layer_not_precomp",
            f"layer {layer.name!r} in composition {comp.name!r} is no precomposition layer, so "
            f"it has no Essential Properties; address a precomposition layer, or leave out the "
            f"layer to set controller {name!r} of a composition",
        )
    controller = find_controller(source, name)
    override = _override(layer, controller)
    if override is not None:
        # NOTE: no test covers this branch. Only projects saved by After Effects have
        # overrides, and py-aep 0.18, which builds the test templates, cannot create them.
        _set_checked(override, controller, value, where)
        return f"{comp.name}/{layer.name}/Essential Properties/{name}"
    own = _own_composition(project, layer, source, copies)
    _set_controlled(own, find_controller(own, name), value, where)
    return f"{own.name}/Essential Graphics/{name}"


def find_controller(comp: Any, name: str) -> Any:
    """Return comp's only controller called name; raise LeaseFailure when there is none."""
    controllers = list(comp.motion_graphics_controllers)
    found = [controller for controller in controllers if controller.name == name]
    if len(found) == 1:
        return found[0]
    if found:
        raise LeaseFailure(
            "controller_ambiguous",
            f"composition {comp.name!r} has {len(found)} Essential Graphics controllers named "
            f"{name!r}; rename them in its Essential Graphics panel so each name is unique",
        )
    names = ", ".join(repr(controller.name) for controller in controllers[:20]) or "none"
    raise LeaseFailure(
        "controller_not_found",
        f"composition {comp.name!r} has no Essential Graphics controller {name!r}; its "
        f"controllers are {names}",
    )


def controller_value_problem(controller_type: int, value: Any) -> str | None:
    """Return what a controller of that type takes when value does not fit it, else None."""
    name = CONTROLLER_TYPES.get(controller_type, "")
    if name == "text":
        return None if isinstance(value, str) else "takes a string"
    if name in ("slider", "angle"):
        return None if _is_number(value) else "takes a number"
    if name == "checkbox":
        return None if isinstance(value, bool) else "takes true or false"
    if name == "color":
        if isinstance(value, str) and HEX_COLOR.fullmatch(value):
            return None
        if _numbers(value, 3, 4) and all(0 <= item <= 1 for item in value):
            return None
        return 'takes [r, g, b] or [r, g, b, a] from 0 to 1, or "#rrggbb"'
    if name == "point":
        return None if _numbers(value, 2, 3) else "takes an array of 2 or 3 numbers"
    if name == "multidimensional":
        return None if _numbers(value, 1, 4) else "takes an array of 1 to 4 numbers"
    if name == "dropdown":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else "takes the 1-based number of a menu item"
    if name == "media":
        return "is a Media Replacement controller; replace its footage with an image or video asset"
    return f"is a {name or 'unknown'} controller, which has no value a job can set"


def _set_controlled(comp: Any, controller: Any, value: Any, where: str) -> None:
    prop = controlled_property(comp, controller)
    _set_checked(prop, controller, value, where)


def _set_checked(prop: Any, controller: Any, value: Any, where: str) -> None:
    problem = controller_value_problem(int(controller.controller_type), value)
    if problem is not None:
        raise LeaseFailure("invalid_value", f"{where} {problem}, not {json.dumps(value)[:80]}")
    set_value(prop, value, where)


def controlled_property(comp: Any, controller: Any) -> Any:
    """Return the py-aep Property that controller exposes, walking its source path."""
    where = f"controller {controller.name!r} of composition {comp.name!r}"
    layer = comp.layers_by_id.get(controller.source_layer_id)
    if layer is None:
        raise LeaseFailure(
            "property_not_found",
            f"{where} controls layer id {controller.source_layer_id}, which composition "
            f"{comp.name!r} does not have",
        )
    current = layer
    for ref in controller.source_property_path:
        current = _step(current, ref)
        if current is None:
            raise LeaseFailure(
                "property_not_found",
                f"{where} controls {ref.match_name!r} under layer {layer.name!r}, which the "
                "layer does not have",
            )
    if not isinstance(current, py_aep.Property):
        raise LeaseFailure(
            "unsupported_property",
            f"{where} controls a property group, not a property with a value",
        )
    return current


def _step(group: Any, ref: Any) -> Any:
    """Return the child of group that a SourcePropertyRef names, or None.

    In an indexed group (the Effects list, masks, text animators) prop_index is the child's
    position, which distinguishes two effects of the same kind. Elsewhere the match name decides.
    """
    if not isinstance(group, py_aep.PropertyGroup):
        return None
    if ref.prop_index is not None and group.property_type == py_aep.PropertyType.INDEXED_GROUP:
        children = group.properties
        if 0 <= ref.prop_index < len(children):
            child = children[ref.prop_index]
            if child.match_name == ref.match_name:
                return child
    try:
        return group[ref.match_name]
    except (KeyError, IndexError, TypeError):
        return None


def _override(layer: Any, controller: Any) -> Any:
    """Return the layer's Essential Properties override leaf for controller, or None."""
    if not layer.essential_property_uuids:
        return None
    try:
        overrides = layer[_OVERRIDES]
    except KeyError:
        return None
    pending = [overrides]
    while pending:
        group = pending.pop()
        for child in group.properties:
            if isinstance(child, py_aep.PropertyGroup):
                pending.append(child)
                continue
            found = resolve_essential_property_controller(child)
            if found is not None and found.uuid == controller.uuid:
                return child
    return None


def _own_composition(
    project: Any, layer: Any, source: Any, copies: MutableMapping[int, Any]
) -> Any:
    """Return a composition that only layer shows: source itself, or a copy of it."""
    if id(layer) in copies:
        return copies[id(layer)]
    shared = any(
        other is not layer and getattr(other, "source", None) is source
        for comp in project.compositions
        for other in comp.layers
    )
    if not shared:
        copies[id(layer)] = source
        return source
    copy = source.duplicate()
    # A layer without a name of its own shows its source's name; keep the name it has.
    layer.name = layer.name
    layer.replace_source(copy)
    logger.info(
        "gave layer %r its own copy %r of composition %r", layer.name, copy.name, source.name
    )
    copies[id(layer)] = copy
    return copy


def _is_number(value: Any) -> bool:
    """Tell whether value is a JSON number that a property can take: a finite double."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    # Compared without float(), which raises OverflowError for an integer beyond a double.
    return abs(value) <= sys.float_info.max


def _numbers(value: Any, minimum: int, maximum: int) -> bool:
    if not isinstance(value, list) or not minimum <= len(value) <= maximum:
        return False
    return all(_is_number(item) for item in value)
