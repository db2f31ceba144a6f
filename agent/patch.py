"""Rewrite a template project with py-aep: replace footage and set data and essential values.

Everything here is synchronous and CPU-bound; the pipeline runs it with asyncio.to_thread.
This relies on three facts of py-aep 0.18. First, `comp.layers` lists layers top first and
`layer.index` is 0-based, while job layer indexes are 1-based as in ExtendScript. Second, a
layer whose name comes from its source takes the new source's name on `replace_source`
unless its name was set explicitly. Third, `project.save` rejects an existing path, so the
patched project is saved to a new file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import py_aep

from agent.errors import LeaseFailure
from agent.essential import set_composition_controller, set_layer_controller
from agent.patch_values import set_value
from agent.project_info import CompInfo, comp_info, find_composition, load_project
from agent.solid_color import SOLID_COLOR, set_solid_color
from protos import common_pb2

logger = logging.getLogger(__name__)

# Names listed at most in a "not found" message.
_MAX_LISTED = 20
# A composition of "*" addresses every composition that has the layer, like no composition.
EVERY_COMPOSITION = "*"


@dataclass(frozen=True)
class LayerTarget:
    """A layer by name or by 1-based index, in one composition or, when empty, in every one."""

    layer_name: str = ""
    layer_index: int = 0
    composition: str = ""
    # Patch every layer named layer_name in a composition; otherwise a repeated name fails.
    every_match: bool = False

    def describe(self) -> str:
        layer = repr(self.layer_name) if self.layer_name else f"#{self.layer_index}"
        where = f"composition {self.composition!r}" if self.composition else "any composition"
        return f"layer {layer} in {where}"


@dataclass(frozen=True)
class FootagePatch:
    target: LayerTarget
    path: Path
    sequence: bool = False
    # Remove each replaced footage item that no layer uses any more (nexrender's removeOld).
    remove_old: bool = False


@dataclass(frozen=True)
class DataPatch:
    target: LayerTarget
    property: tuple[str, ...]
    # The value decoded from JSON; has_value is False when only an expression is set.
    value: Any = None
    has_value: bool = False
    expression: str = ""


@dataclass(frozen=True)
class EssentialPatch:
    """A value for the Essential Graphics controller named controller.

    Without a layer in target it sets a controller of target.composition (empty: the rendered
    composition); with a layer, that precomposition layer's own value (agent/essential.py).
    """

    target: LayerTarget
    controller: str
    value: Any = None

    @property
    def has_layer(self) -> bool:
        return bool(self.target.layer_name) or self.target.layer_index > 0


@dataclass
class PatchReport:
    layers_replaced: list[str] = field(default_factory=list)
    properties_set: list[str] = field(default_factory=list)
    items_removed: list[str] = field(default_factory=list)
    # Compositions and solids copied so that one layer could change alone.
    items_copied: list[str] = field(default_factory=list)


def data_patch_from_proto(asset: common_pb2.DataAsset) -> DataPatch:
    target = LayerTarget(asset.layer_name, asset.layer_index, asset.composition, asset.every_match)
    has_value = bool(asset.value_json)
    value: Any = None
    if has_value:
        try:
            value = json.loads(asset.value_json)
        except json.JSONDecodeError as error:
            raise LeaseFailure(
                "invalid_value",
                f"value of {'.'.join(asset.property)} on {target.describe()} is not JSON: {error}",
            ) from error
    return DataPatch(target, tuple(asset.property), value, has_value, asset.expression)


def essential_patch_from_proto(asset: common_pb2.EssentialAsset) -> EssentialPatch:
    target = LayerTarget(asset.layer_name, asset.layer_index, asset.composition, asset.every_match)
    try:
        value = json.loads(asset.value_json)
    except json.JSONDecodeError as error:
        raise LeaseFailure(
            "invalid_value",
            f"value of Essential Graphics controller {asset.property!r} is not JSON: {error}",
        ) from error
    return EssentialPatch(target, asset.property, value)


def patch_project(
    template: Path,
    destination: Path,
    composition: str,
    footage: Sequence[FootagePatch],
    data: Sequence[DataPatch | EssentialPatch],
) -> tuple[CompInfo, PatchReport]:
    """Apply footage, data and essential patches to template and save it as destination.

    Footage comes first, then data patches, then essential patches of compositions, then
    those of single layers, each in job order. A layer's own copy of a composition or a solid
    is made last, so it has every change made to the original. Returns the rendered
    composition's details and what was changed. Raises LeaseFailure with layer_not_found,
    comp_not_found, footage_unsupported, unsupported_property, controller_not_found and others.
    """
    app = load_project(template)
    project = app.project
    report = PatchReport()
    for patch in footage:
        _replace_footage(project, patch, report)
    for data_patch in data:
        if isinstance(data_patch, DataPatch):
            _set_data(project, data_patch, report)
    essential = [patch for patch in data if isinstance(patch, EssentialPatch)]
    copies: dict[int, Any] = {}
    for essential_patch in sorted(essential, key=lambda patch: patch.has_layer):
        _set_essential(project, composition, essential_patch, copies, report)

    info = comp_info(find_composition(project, composition))
    if destination.exists():
        destination.unlink()
    project.save(destination)
    logger.info(
        "saved patched project %s: %d layers replaced, %d properties set",
        destination,
        len(report.layers_replaced),
        len(report.properties_set),
    )
    return info, report


def _replace_footage(project: Any, patch: FootagePatch, report: PatchReport) -> None:
    layers = find_layers(project, patch.target)
    options = py_aep.ImportOptions(patch.path)
    try:
        if patch.sequence:
            options.sequence = True
        item = project.import_file(options)
    except (ValueError, NotImplementedError, OSError) as error:
        raise LeaseFailure(
            "footage_unsupported",
            f"cannot import {patch.path.name} for {patch.target.describe()}: {error}",
        ) from error

    old_sources = []
    for comp, layer in layers:
        if getattr(layer, "source", None) is None:
            raise LeaseFailure(
                "layer_not_replaceable",
                f"layer {layer.name!r} in composition {comp.name!r} is a "
                f"{type(layer).__name__} without a source; footage can replace only footage, "
                f"solid or precomposition layers",
            )
        # A layer without a name of its own shows its source's name, so it would take the new
        # file's name. Setting the name keeps it addressable by later assets and jobs.
        layer.name = layer.name
        old_sources.append(layer.source)
        layer.replace_source(item, False)
        report.layers_replaced.append(f"{comp.name}/{layer.name}")
    if patch.remove_old:
        _remove_unused(project, old_sources, report)


def _remove_unused(project: Any, sources: Sequence[Any], report: PatchReport) -> None:
    """Remove the footage items among sources that no layer of any composition shows.

    Compositions are kept: a precomposition replaced on one layer may still be rendered.
    """
    used = {
        id(layer.source)
        for comp in project.compositions
        for layer in comp.layers
        if getattr(layer, "source", None) is not None
    }
    removed: set[int] = set()
    for source in sources:
        if isinstance(source, py_aep.FootageItem) and id(source) not in used | removed:
            removed.add(id(source))
            report.items_removed.append(source.name)
            source.remove()


def _set_essential(
    project: Any,
    rendered: str,
    patch: EssentialPatch,
    copies: dict[int, Any],
    report: PatchReport,
) -> None:
    if not patch.has_layer:
        comp = find_composition(project, patch.target.composition or rendered)
        set_composition_controller(comp, patch.controller, patch.value)
        report.properties_set.append(f"{comp.name}/Essential Graphics/{patch.controller}")
        return
    for comp, layer in find_layers(project, patch.target):
        shown_before = getattr(layer, "source", None)
        report.properties_set.append(
            set_layer_controller(project, comp, layer, patch.controller, patch.value, copies)
        )
        if layer.source is not shown_before:
            report.items_copied.append(layer.source.name)


def _set_data(project: Any, patch: DataPatch, report: PatchReport) -> None:
    path = " -> ".join(patch.property)
    for comp, layer in find_layers(project, patch.target):
        where = f"{path} of layer {layer.name!r} in composition {comp.name!r}"
        if patch.property == (SOLID_COLOR,):
            if patch.expression or not patch.has_value:
                raise LeaseFailure(
                    "unsupported_property",
                    f"{where}: {SOLID_COLOR} is a setting of the solid's source item, which "
                    "takes a value and no expression",
                )
            copied = set_solid_color(project, comp, layer, patch.value, where)
            if copied is not None:
                report.items_copied.append(copied)
            report.properties_set.append(f"{comp.name}/{layer.name}/{path}")
            continue
        prop = _resolve_property(comp, layer, patch.property)
        if patch.has_value:
            set_value(prop, patch.value, where)
        if patch.expression:
            try:
                prop.expression = patch.expression
            except (AttributeError, ValueError) as error:
                raise LeaseFailure(
                    "unsupported_property", f"cannot set an expression on {where}: {error}"
                ) from error
        report.properties_set.append(f"{comp.name}/{layer.name}/{path}")


def _resolve_property(comp: Any, layer: Any, names: Sequence[str]) -> Any:
    if not names:
        raise LeaseFailure("unsupported_property", f"empty property path on layer {layer.name!r}")
    # nexrender writes "Source Text", "Position" or "Effects.X.Color" from the layer, without
    # the Text or Transform group that contains the first two.
    starts = [layer]
    for group_name in ("Text", "Transform"):
        group = _child(layer, group_name)
        if group is not None:
            starts.append(group)

    for start in starts:
        prop = _walk(start, names)
        if prop is not None:
            if not isinstance(prop, py_aep.Property):
                raise LeaseFailure(
                    "unsupported_property",
                    f"{' -> '.join(names)} of layer {layer.name!r} in composition "
                    f"{comp.name!r} is a property group, not a property with a value",
                )
            return prop

    available = _names(getattr(p, "name", "?") for p in layer.properties)
    raise LeaseFailure(
        "property_not_found",
        f"layer {layer.name!r} in composition {comp.name!r} has no property "
        f"{' -> '.join(names)}; its top-level groups are {available}",
    )


def _child(group: Any, name: str) -> Any:
    try:
        return group[name]
    except (KeyError, IndexError, TypeError):
        return None


def _walk(start: Any, names: Sequence[str]) -> Any:
    current = start
    for name in names:
        if not isinstance(current, py_aep.PropertyGroup):
            return None
        current = _child(current, name)
        if current is None:
            return None
    return current


def find_layers(project: Any, target: LayerTarget) -> list[tuple[Any, Any]]:
    """Return (composition, layer) pairs that target names; raise when there is none."""
    every = target.composition in ("", EVERY_COMPOSITION)
    if not every:
        comps = [find_composition(project, target.composition)]
    else:
        comps = list(project.compositions)

    found = []
    for comp in comps:
        layers = comp.layers
        if target.layer_name:
            named = [(comp, layer) for layer in layers if layer.name == target.layer_name]
            if len(named) > 1 and not target.every_match:
                indexes = ", ".join(str(layers.index(layer) + 1) for _, layer in named)
                raise LeaseFailure(
                    "layer_ambiguous",
                    f"composition {comp.name!r} has {len(named)} layers named "
                    f"{target.layer_name!r}, at the indexes {indexes}; give layerIndex to pick "
                    'one, or "everyMatch": true to patch them all',
                )
            found += named
        elif 1 <= target.layer_index <= len(layers):
            found.append((comp, layers[target.layer_index - 1]))
    if found:
        return found

    if not every:
        existing = _names(layer.name for layer in comps[0].layers)
        detail = f"composition {target.composition!r} has the layers {existing}"
    else:
        existing = _names(comp.name for comp in comps)
        detail = f"no composition has it; the compositions are {existing}"
    raise LeaseFailure("layer_not_found", f"{target.describe()} not found: {detail}")


def _names(names: Iterable[str]) -> str:
    listed = list(names)
    text = ", ".join(repr(name) for name in listed[:_MAX_LISTED])
    if len(listed) > _MAX_LISTED:
        text += f" and {len(listed) - _MAX_LISTED} more"
    return text or "none"
