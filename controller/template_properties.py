"""Check a data asset's property path and value against one layer of a stored template.

The agent looks a path up from the layer, then inside its Text group, then inside its
Transform group (agent/patch.py), and so does this check. It uses the layer's top-level
groups, Transform properties, Text group children and effects with their properties, as
inspection stored them (controller/template_details.py). Deeper parts, such as a mask's or a
text animator's properties, are left to the agent. "Solid Color" is the colour of a solid
layer's source.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from controller import template_details as kinds
from controller.jobspec import models
from controller.jobspec.parse import Problem
from controller.jobspec.problems import describe
from controller.template_details import EffectInfo, LayerProperties, PropertyInfo
from controller.template_inspect import CompositionInfo, LayerInfo
from controller.template_values import color_problem, property_value_problem
from controller.templates import suggestion_text

logger = logging.getLogger(__name__)

SOLID_COLOR = "Solid Color"
SOURCE_TEXT = "Source Text"
_EFFECTS = "ADBE Effect Parade"
_TRANSFORM = "ADBE Transform Group"
_TEXT = "ADBE Text Properties"


class _Unresolved(Exception):
    """A property path that does not exist on the layer; the message gives the reason."""


def data_property_problems(
    comp: CompositionInfo, layer: LayerInfo, asset: models.DataAsset, path: str
) -> list[Problem]:
    """Check the property path and value of a data asset on one layer it addresses."""
    names = asset.property
    where = f"layer {layer.index} {layer.name!r} in composition {comp.name!r}"
    if names[0] == SOLID_COLOR:
        return _solid_color_problems(layer, asset, where, path)
    if names[0].casefold() == SOLID_COLOR.casefold() and layer.type == "solid":
        reason = f'{names[0]!r} is not a property of {where}; write "{SOLID_COLOR}" in this case'
        return [Problem(f"{path}.property", reason)]
    if names[-1] == SOURCE_TEXT and layer.type != "text":
        # template_validation reports Source Text on a layer that is not a text layer.
        return []
    if layer.properties is None:
        return []
    try:
        kind = _resolve(layer.properties, names, where)
    except _Unresolved as error:
        return [Problem(f"{path}.property", str(error))]
    if kind is None or asset.value is None:
        return []
    phrase = property_value_problem(kind, asset.value)
    if phrase is None:
        return []
    path_text = " -> ".join(names)
    reason = f"{path_text} of {where} {phrase}, not {describe(asset.value)}"
    return [Problem(f"{path}.value", reason)]


def _solid_color_problems(
    layer: LayerInfo, asset: models.DataAsset, where: str, path: str
) -> list[Problem]:
    problems = []
    if len(asset.property) > 1:
        problems.append(
            Problem(
                f"{path}.property",
                f"{SOLID_COLOR} is the colour of a solid, not a property group; write "
                f'"{SOLID_COLOR}" alone',
            )
        )
    if layer.type != "solid":
        problems.append(
            Problem(
                f"{path}.property",
                f"{SOLID_COLOR} is the colour of a solid layer's source, but {where} is a "
                f"{layer.type} layer; address a solid layer",
            )
        )
    if asset.expression is not None:
        problems.append(
            Problem(
                f"{path}.expression",
                f"{SOLID_COLOR} is a setting of the solid's source item, which takes no "
                "expression; give value only",
            )
        )
    if asset.value is not None:
        phrase = color_problem(asset.value)
        if phrase is not None:
            problems.append(
                Problem(f"{path}.value", f"{SOLID_COLOR} {phrase}, not {describe(asset.value)}")
            )
    return problems


def _resolve(props: LayerProperties, names: Sequence[str], where: str) -> str | None:
    """Return the kind of the property names leads to, None when this check cannot tell.

    Raises _Unresolved when the path does not exist.
    """
    first, rest = names[0], names[1:]
    group = _find(props.groups, first)
    if group is not None:
        if group.match_name == _EFFECTS:
            return _resolve_effect(props.effects, rest, where)
        if group.match_name == _TRANSFORM:
            return _resolve_in(props.transform, rest, f"{group.name} of {where}")
        if group.match_name == _TEXT:
            return _resolve_in(props.text, rest, f"{group.name} of {where}")
        if group.kind != kinds.GROUP:
            return _leaf(group, rest)
        # Masks, Layer Styles, Essential Properties, shape Contents and others: the agent
        # checks what is below them.
        return None
    for children in (props.transform, props.text):
        found = _find(children, first)
        if found is not None:
            return None if found.kind == kinds.GROUP else _leaf(found, rest)
    candidates = _names(props.groups) + _names(props.transform) + _names(props.text)
    raise _Unresolved(
        f"{where} has no property group or property {first!r}; "
        f"{suggestion_text(first, candidates, 'top-level groups and properties')}"
    )


def _resolve_effect(effects: Sequence[EffectInfo], rest: Sequence[str], where: str) -> str | None:
    listed = [effect.name for effect in effects if effect.name]
    if not rest:
        raise _Unresolved(
            f"Effects of {where} is a property group; write Effects.NAME.PROPERTY with the name "
            f"of an effect: {_listed(listed)}"
        )
    effect = next((effect for effect in effects if effect.is_named(rest[0])), None)
    if effect is None:
        if "." in rest[0]:
            # split_property splits at "." only when the path contains no "->".
            named = [e.name for e in effects if rest[0].startswith(f"{e.name}.")]
            if named:
                raise _Unresolved(
                    f'{where} has no effect {rest[0]!r}; the path contains "->", so it is '
                    f'split at "->" only: write Effects->{named[0]}->... throughout'
                )
        if not listed:
            raise _Unresolved(
                f"{where} has no effects, so it has no effect {rest[0]!r}; add the effect to the "
                "layer in After Effects (py-aep cannot add effects to a project)"
            )
        raise _Unresolved(
            f"{where} has no effect {rest[0]!r}; {suggestion_text(rest[0], listed, 'effects')}"
        )
    if len(rest) == 1:
        raise _Unresolved(
            f"{effect.name!r} is an effect of {where}; add the name of one of its properties: "
            f"{_listed(_names(effect.properties))}"
        )
    return _resolve_in(effect.properties, rest[1:], f"effect {effect.name!r} of {where}")


def _resolve_in(children: Sequence[PropertyInfo], rest: Sequence[str], owner: str) -> str | None:
    if not rest:
        raise _Unresolved(
            f"{owner} is a property group; add the name of one of its properties: "
            f"{_listed(_names(children))}"
        )
    prop = _find(children, rest[0])
    if prop is None:
        raise _Unresolved(
            f"{owner} has no property {rest[0]!r}; "
            f"{suggestion_text(rest[0], _names(children), 'properties there')}"
        )
    if prop.kind == kinds.GROUP:
        if len(rest) == 1:
            raise _Unresolved(
                f"{prop.name!r} of {owner} is a property group, not a property with a value; "
                "add the name of a property inside it"
            )
        return None
    return _leaf(prop, rest[1:])


def _leaf(prop: PropertyInfo, rest: Sequence[str]) -> str:
    if rest:
        raise _Unresolved(
            f"{prop.name!r} is a property with a value, so the path cannot continue with "
            f"{rest[0]!r}; end the path at {prop.name!r}"
        )
    return prop.kind


def _find(children: Sequence[PropertyInfo], key: str) -> PropertyInfo | None:
    return next((child for child in children if child.is_named(key)), None)


def _names(children: Sequence[PropertyInfo]) -> list[str]:
    return list(dict.fromkeys(child.name for child in children if child.name))


def _listed(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names) or "none"
