"""Inspect what submit checks need below the layer list: property names and controllers.

For each layer this records its top-level property groups, its Transform properties, the
children of its Text group and its effects with their properties, each by name, match name and
the kind of value it takes. For each composition it records the controllers of its Essential
Graphics panel. Both are read with py-aep 0.18.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import py_aep

logger = logging.getLogger(__name__)

# Kinds of property values. A group has children instead of a value; "other" is a value that
# submit does not check (markers, shapes, gradients, layer and mask references).
GROUP = "group"
NUMBER = "number"
CHECKBOX = "checkbox"
VECTOR2 = "vector2"
VECTOR3 = "vector3"
COLOR = "color"
TEXT = "text"
OTHER = "other"

# Essential Graphics controller type ids as py-aep reports them
# (EssentialGraphicsController.controller_type), and the names aefarm uses for them.
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
UNKNOWN_CONTROLLER = "unknown"

_TRANSFORM = "ADBE Transform Group"
_TEXT = "ADBE Text Properties"
_EFFECTS = "ADBE Effect Parade"
_VECTOR2_TYPES = (py_aep.PropertyValueType.TwoD, py_aep.PropertyValueType.TwoD_SPATIAL)
_VECTOR3_TYPES = (py_aep.PropertyValueType.ThreeD, py_aep.PropertyValueType.ThreeD_SPATIAL)


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    match_name: str
    # One of the kinds above.
    kind: str

    def is_named(self, key: str) -> bool:
        """Tell whether key names this property the way py-aep's group[key] looks it up."""
        return key in (self.match_name, self.name) or key == self.name.lower().replace(" ", "_")


@dataclass(frozen=True)
class EffectInfo:
    name: str
    match_name: str
    # The effect's direct children: its parameters and its Compositing Options group.
    properties: tuple[PropertyInfo, ...] = ()

    def is_named(self, key: str) -> bool:
        return PropertyInfo(self.name, self.match_name, GROUP).is_named(key)


@dataclass(frozen=True)
class LayerProperties:
    # The layer's own children, such as Effects, Transform, Masks and, on text layers, Text.
    groups: tuple[PropertyInfo, ...] = ()
    transform: tuple[PropertyInfo, ...] = ()
    # Children of the Text group; empty on layers that are not text layers.
    text: tuple[PropertyInfo, ...] = ()
    # Top first, as in the Effect Controls panel.
    effects: tuple[EffectInfo, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerProperties:
        return cls(
            groups=_properties_from_json(data["groups"]),
            transform=_properties_from_json(data["transform"]),
            text=_properties_from_json(data["text"]),
            effects=tuple(
                EffectInfo(
                    effect["name"],
                    effect["match_name"],
                    _properties_from_json(effect["properties"]),
                )
                for effect in data["effects"]
            ),
        )


@dataclass(frozen=True)
class ControllerInfo:
    name: str
    # A value of CONTROLLER_TYPES, or UNKNOWN_CONTROLLER.
    type: str


def _properties_from_json(items: list[dict[str, Any]]) -> tuple[PropertyInfo, ...]:
    return tuple(PropertyInfo(item["name"], item["match_name"], item["kind"]) for item in items)


def layer_properties(layer: Any) -> LayerProperties | None:
    """Read the property names of a py-aep layer; return None when py-aep cannot read them."""
    try:
        return LayerProperties(
            groups=_children(layer),
            transform=_children(_child(layer, _TRANSFORM)),
            text=_children(_child(layer, _TEXT)),
            effects=tuple(
                EffectInfo(str(effect.name), str(effect.match_name), _children(effect))
                for effect in _members(_child(layer, _EFFECTS))
            ),
        )
    except Exception:
        # py-aep raises many exception types on property data it cannot decode. Submit then
        # skips the property checks of this layer, and the agent still checks the paths.
        logger.warning("py-aep cannot read the properties of layer %r", layer.name, exc_info=True)
        return None


def composition_controllers(comp: Any) -> tuple[ControllerInfo, ...] | None:
    """Read the Essential Graphics controllers of a py-aep composition, None if unreadable."""
    try:
        return tuple(
            ControllerInfo(
                str(controller.name),
                CONTROLLER_TYPES.get(int(controller.controller_type), UNKNOWN_CONTROLLER),
            )
            for controller in comp.motion_graphics_controllers
        )
    except Exception:
        # As in layer_properties: submit then skips the controller checks of this composition.
        logger.warning("py-aep cannot read the controllers of %r", comp.name, exc_info=True)
        return None


def property_kind(prop: Any) -> str:
    """Return the kind of value a py-aep property takes, or GROUP for a property group."""
    if isinstance(prop, py_aep.PropertyGroup):
        return GROUP
    value_type = prop.property_value_type
    if value_type == py_aep.PropertyValueType.TEXT_DOCUMENT:
        return TEXT
    if value_type == py_aep.PropertyValueType.COLOR:
        return COLOR
    if value_type == py_aep.PropertyValueType.OneD:
        if prop.property_control_type == py_aep.PropertyControlType.BOOLEAN:
            return CHECKBOX
        return NUMBER
    if value_type in _VECTOR2_TYPES:
        return VECTOR2
    if value_type in _VECTOR3_TYPES:
        return VECTOR3
    return OTHER


def _child(group: Any, match_name: str) -> Any:
    try:
        return group[match_name]
    except (KeyError, IndexError, TypeError):
        return None


def _members(group: Any) -> list[Any]:
    if not isinstance(group, py_aep.PropertyGroup):
        return []
    return list(group.properties)


def _children(group: Any) -> tuple[PropertyInfo, ...]:
    return tuple(
        PropertyInfo(str(prop.name), str(prop.match_name), property_kind(prop))
        for prop in _members(group)
    )
