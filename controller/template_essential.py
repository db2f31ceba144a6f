"""Check an essential asset against the Essential Graphics controllers of a stored template.

The controller must exist in the composition, by the name its Essential Graphics panel shows,
be the only one of that name, and take a value of the asset's shape. The caller finds the
composition: the asset's own for a composition's controller, or the one a precomposition
layer shows.
"""

from __future__ import annotations

import logging
from typing import Any

from controller.jobspec import models
from controller.jobspec.parse import Problem
from controller.jobspec.problems import describe
from controller.template_inspect import CompositionInfo
from controller.template_values import color_problem, is_number, numbers
from controller.templates import suggestion_text

logger = logging.getLogger(__name__)

# Controller types without a value that a job can set, and what to do instead.
_NOT_SETTABLE = {
    "group": "is a group of controllers, which has no value; name a controller inside it",
    "comment": "is a comment, which has no value; name another controller",
    "media": (
        "is a Media Replacement controller; replace its footage with an image or video asset "
        "on the layer it controls"
    ),
    "unknown": "is of a controller type aefarm does not know, so it cannot set it",
}


def controller_problems(
    comp: CompositionInfo, asset: models.EssentialAsset, path: str, where: str
) -> list[Problem]:
    """Check asset against the controllers of comp; where names the composition in messages."""
    if comp.controllers is None:
        return []

    name = asset.property
    found = [controller for controller in comp.controllers if controller.name == name]
    if not found:
        names = list(dict.fromkeys(controller.name for controller in comp.controllers))
        if not names:
            reason = (
                f"{where} has no Essential Graphics controllers; add the property to its "
                "Essential Graphics panel in After Effects, or set it with a data asset"
            )
        else:
            text = suggestion_text(name, names, "controllers there")
            reason = f"{where} has no Essential Graphics controller {name!r}; {text}"
        return [Problem(f"{path}.property", reason)]

    if len(found) > 1:
        return [
            Problem(
                f"{path}.property",
                f"{where} has {len(found)} Essential Graphics controllers named {name!r}; rename "
                "them in its Essential Graphics panel so each name is unique",
            )
        ]

    controller_type = found[0].type
    if controller_type in _NOT_SETTABLE:
        reason = f"controller {name!r} of {where} {_NOT_SETTABLE[controller_type]}"
        return [Problem(f"{path}.property", reason)]

    phrase = controller_value_problem(controller_type, asset.value)
    if phrase is None:
        return []
    reason = (
        f"controller {name!r} of {where} is a {controller_type} controller and {phrase}, "
        f"not {describe(asset.value)}"
    )
    return [Problem(f"{path}.value", reason)]


def controller_value_problem(controller_type: str, value: Any) -> str | None:
    """Return what a controller of that type takes when value does not fit it, else None."""
    if controller_type == "text":
        return None if isinstance(value, str) else "takes a string"
    if controller_type in ("slider", "angle"):
        return None if is_number(value) else "takes a number"
    if controller_type == "checkbox":
        return None if isinstance(value, bool) else "takes true or false"
    if controller_type == "color":
        return color_problem(value)
    if controller_type == "point":
        if numbers(value, 2, 3):
            return None
        return "takes an array of 2 or 3 numbers, such as [960, 540]"
    if controller_type == "multidimensional":
        return None if numbers(value, 1, 4) else "takes an array of 1 to 4 numbers"
    if controller_type == "dropdown":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else "takes the 1-based number of a menu item"
    return None
