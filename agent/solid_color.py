"""Set the colour of a solid layer, the data asset property "Solid Color".

A solid's colour is a setting of its source item (py-aep SolidSource.color), not a layer
property, so every layer that shares the solid item would change. A layer whose solid other
layers also show therefore gets a new solid of the same size and pixel aspect in the new
colour, and the other layers keep the old one. A layer that is the only user of its solid
changes it in place.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import py_aep

from agent.errors import LeaseFailure
from agent.patch_values import HEX_COLOR

logger = logging.getLogger(__name__)

SOLID_COLOR = "Solid Color"


def set_solid_color(project: Any, comp: Any, layer: Any, value: Any, where: str) -> str | None:
    """Set layer's solid to the colour value; return the new solid's name when one was made."""
    source = getattr(layer, "source", None)
    if not isinstance(source, py_aep.FootageItem) or not isinstance(
        source.main_source, py_aep.SolidSource
    ):
        raise LeaseFailure(
            "unsupported_property",
            f"{where}: {SOLID_COLOR} is the colour of a solid layer's source, but layer "
            f"{layer.name!r} is no solid layer; address a solid layer",
        )
    color = _rgb(value, where)

    shared = any(
        other is not layer and getattr(other, "source", None) is source
        for other_comp in project.compositions
        for other in other_comp.layers
    )
    if not shared:
        source.main_source.color = color
        return None

    # py-aep 0.18 makes a solid item only together with a layer: add one, keep its solid, and
    # remove the layer again.
    helper = comp.add_solid(
        color,
        width=int(source.width),
        height=int(source.height),
        pixel_aspect=float(source.pixel_aspect),
    )
    solid = helper.source
    helper.remove()
    # A layer without a name of its own shows its source's name; keep the name it has.
    layer.name = layer.name
    layer.replace_source(solid)
    logger.info("gave layer %r its own solid %r", layer.name, solid.name)
    return str(solid.name)


def _rgb(value: Any, where: str) -> list[float]:
    if isinstance(value, str) and HEX_COLOR.fullmatch(value):
        digits = value.lstrip("#")
        return [int(digits[i : i + 2], 16) / 255 for i in range(0, 6, 2)]
    is_list = isinstance(value, list) and 3 <= len(value) <= 4
    if is_list and all(
        isinstance(item, int | float) and not isinstance(item, bool) and 0 <= item <= 1
        for item in value
    ):
        # A solid has no alpha of its own: a fourth number is ignored.
        return [float(item) for item in value[:3]]
    raise LeaseFailure(
        "invalid_value",
        f'{where} takes [r, g, b] or [r, g, b, a] from 0 to 1, or "#rrggbb", not '
        f"{json.dumps(value)[:80]}",
    )
