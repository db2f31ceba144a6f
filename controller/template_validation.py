"""Check a job against the templates stored on the controller, and resolve template.id.

A job's template is known when template.id names a stored template (by id or name), or when
template.src is artifact://<sha256>/... of a stored template's file. For a known template this
checks that the composition exists and is unique, that every layerName exists in its
composition ("outer->inner" walks into precomposition layers, "*" or no composition means
every composition that has the layer), that every layerIndex is in range, that Source Text is
set only on text layers, and that footage replaces only layers with a source. Data assets'
property paths and values are checked by controller/template_properties.py, essential assets'
controllers by controller/template_essential.py. Nested jobs are checked against their own
templates. A template that is not known is not checked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from controller.artifacts import parse_artifact_url
from controller.jobspec import models
from controller.jobspec.nesting import nested_sources
from controller.jobspec.parse import Problem
from controller.template_essential import controller_problems
from controller.template_inspect import CompositionInfo, LayerInfo, TemplateInfo
from controller.template_properties import data_property_problems
from controller.templates import TemplateCatalog, TemplateNotFound, TemplateRecord, suggestion_text

logger = logging.getLogger(__name__)

NESTED_SEPARATOR = "->"
EVERY_COMPOSITION = "*"
# Layer types whose source footage can replace.
REPLACEABLE_TYPES = frozenset({"footage", "solid", "precomp"})


def check_templates(
    spec: models.JobSpec, raw: Any, catalog: TemplateCatalog
) -> tuple[models.JobSpec, list[Problem]]:
    """Return the spec with known templates resolved, and every problem found.

    raw is the submitted JSON object; it gives the JSON path of each asset.
    """
    return _check(spec, raw if isinstance(raw, dict) else {}, "$", catalog)


def _check(
    spec: models.JobSpec, raw: dict[str, Any], path: str, catalog: TemplateCatalog
) -> tuple[models.JobSpec, list[Problem]]:
    problems: list[Problem] = []
    raw_assets: list[Any] = raw["assets"] if isinstance(raw.get("assets"), list) else []
    asset_paths = [f"{path}.assets[{i}]" for i, a in enumerate(raw_assets) if _type(a) != "job"]
    sources = nested_sources(raw, path)

    template = spec.template
    record = _find(template, f"{path}.template", catalog, problems)
    if template is not None and record is not None:
        template = template.model_copy(
            update={"src": record.url, "sha256": record.sha256, "fonts": list(record.info.fonts)}
        )
        info = record.info
        problems += _main_comp_problems(info, template.composition, f"{path}.template.composition")
        for asset, asset_path in zip(spec.assets, asset_paths, strict=False):
            if isinstance(asset, models.FootageAsset | models.DataAsset):
                problems += _asset_problems(info, asset, asset_path)
            elif isinstance(asset, models.EssentialAsset):
                problems += _essential_problems(info, asset, template.composition, asset_path)
        for child, source in zip(spec.children, sources, strict=False):
            target = models.LayerTarget(layer_name=child.layer_name, composition=child.composition)
            problems += _target_problems(info, target, source.asset_path, "precomp")

    children = []
    for child, source in zip(spec.children, sources, strict=False):
        child_spec, child_problems = _check(child.job, source.raw, source.path, catalog)
        problems += child_problems
        children.append(child.model_copy(update={"job": child_spec}))
    children += spec.children[len(children) :]

    # A join's job inputs are its "job" assets in order, as a render's children are.
    join_inputs = []
    input_sources = iter(sources)
    for join_input in spec.join_inputs:
        if join_input.job is None:
            join_inputs.append(join_input)
            continue
        found = next(input_sources, None)
        input_raw, input_path = (found.raw, found.path) if found else ({}, f"{path}.assets")
        input_spec, input_problems = _check(join_input.job, input_raw, input_path, catalog)
        problems += input_problems
        join_inputs.append(join_input.model_copy(update={"job": input_spec}))

    resolved = spec.model_copy(
        update={"template": template, "children": children, "join_inputs": join_inputs}
    )
    return resolved, problems


def _type(asset: Any) -> Any:
    return asset.get("type") if isinstance(asset, dict) else None


def _find(
    template: models.TemplateRef | None,
    path: str,
    catalog: TemplateCatalog,
    problems: list[Problem],
) -> TemplateRecord | None:
    if template is None:
        return None
    if template.id:
        try:
            return catalog.get(template.id)
        except TemplateNotFound as error:
            reason = f"{error}, or give template.src, the URI of the .aep file"
            problems.append(Problem(f"{path}.id", reason))
            return None
    sha256 = parse_artifact_url(template.src or "")
    return catalog.find_by_sha256(sha256) if sha256 else None


def _main_comp_problems(info: TemplateInfo, name: str, path: str) -> list[Problem]:
    found = info.compositions_named(name)
    if len(found) == 1:
        return []
    if found:
        return [
            Problem(
                path,
                f"{len(found)} compositions are named {name!r}, so aerender cannot tell which "
                "to render; rename them in the project so the name is unique",
            )
        ]
    names = [comp.name for comp in info.compositions]
    return [Problem(path, f"composition {name!r} not found in the template; {_near(name, names)}")]


def _near(name: str, names: Sequence[str]) -> str:
    return suggestion_text(name, list(dict.fromkeys(names)), "compositions")


def resolve_compositions(info: TemplateInfo, path_text: str) -> tuple[list[CompositionInfo], str]:
    """Return the compositions "outer->inner" names, or an explanation of why there are none."""
    parts = [part.strip() for part in path_text.split(NESTED_SEPARATOR)]
    current = info.compositions_named(parts[0])
    if not current:
        names = [comp.name for comp in info.compositions]
        return [], f"composition {parts[0]!r} not found in the template; {_near(parts[0], names)}"
    for inner in parts[1:]:
        shown = {
            layer.source_composition
            for comp in current
            for layer in comp.layers
            if layer.type == "precomp"
        }
        if inner not in shown:
            where = " -> ".join(repr(c) for c in dict.fromkeys(c.name for c in current))
            text = suggestion_text(inner, sorted(shown), "precompositions it shows")
            return [], f"composition {where} has no precomposition layer of {inner!r}; {text}"
        current = info.compositions_named(inner)
    return current, ""


def _asset_problems(
    info: TemplateInfo, asset: models.FootageAsset | models.DataAsset, path: str
) -> list[Problem]:
    kind = "footage" if isinstance(asset, models.FootageAsset) else "data"
    problems = _target_problems(info, asset, path, kind)
    if problems or not isinstance(asset, models.DataAsset):
        return problems
    if asset.property and asset.property[-1] == "Source Text":
        for comp, layer in _matching_layers(info, asset):
            if layer.type != "text":
                problems.append(
                    Problem(
                        f"{path}.property",
                        f"Source Text is a property of text layers, but layer {layer.index} "
                        f"{layer.name!r} in composition {comp.name!r} is a {layer.type} layer; "
                        "address a text layer",
                    )
                )
    for comp, layer in _matching_layers(info, asset):
        problems += data_property_problems(comp, layer, asset, path)
    return list(dict.fromkeys(problems))


def _essential_problems(
    info: TemplateInfo, asset: models.EssentialAsset, main: str, path: str
) -> list[Problem]:
    if not asset.has_layer():
        comps, missing_reason = resolve_compositions(info, asset.composition or main)
        if not comps:
            # A missing template.composition is reported at that path already.
            if asset.composition is None:
                return []
            return [Problem(f"{path}.composition", missing_reason)]
        if len(comps) > 1:
            reason = (
                f"{len(comps)} compositions are named {comps[0].name!r}, so the controller to "
                "set is not clear; rename them in the project so the name is unique"
            )
            return [Problem(f"{path}.composition", reason)]
        return controller_problems(comps[0], asset, path, f"composition {comps[0].name!r}")
    problems = _target_problems(info, asset, path, "data")
    if problems:
        return problems
    field = "layerName" if asset.layer_name is not None else "layerIndex"
    for comp, layer in _matching_layers(info, asset):
        where = f"layer {layer.index} {layer.name!r} in composition {comp.name!r}"
        if layer.type != "precomp":
            reason = (
                f"an essential asset with a layer sets the Essential Properties of a "
                f"precomposition layer, but {where} is a {layer.type} layer; address a "
                f"precomposition layer, or leave out {field} to set a controller of the "
                "composition itself"
            )
            problems.append(Problem(f"{path}.{field}", reason))
            continue
        # Those with a controller of the name first, so that their problem (a duplicate name,
        # a wrong value) is the one reported rather than another composition's lack of it.
        shown_comps = sorted(
            info.compositions_named(layer.source_composition),
            key=lambda comp: not _has_controller(comp, asset.property),
        )
        found = [
            controller_problems(
                candidate, asset, path, f"composition {candidate.name!r}, which {where} shows,"
            )
            for candidate in shown_comps
        ]
        # Compositions may share a name; any one that has the controller can be the one shown.
        if found and all(found):
            problems += found[0]
    return list(dict.fromkeys(problems))


def _has_controller(comp: CompositionInfo, name: str) -> bool:
    return any(controller.name == name for controller in comp.controllers or ())


def _target_problems(
    info: TemplateInfo, target: models.LayerTarget, path: str, kind: str
) -> list[Problem]:
    comps, why = _target_compositions(info, target.composition)
    if not comps:
        return [Problem(f"{path}.composition", why)]
    every = target.composition in (None, "", EVERY_COMPOSITION)
    if target.layer_index is not None:
        return _index_problems(comps, target.layer_index, path, every, kind)
    name = target.layer_name or ""
    matches = [(comp, [layer for layer in comp.layers if layer.name == name]) for comp in comps]
    if not any(layers for _, layers in matches):
        names = sorted({layer.name for comp in comps for layer in comp.layers})
        where = "any composition" if every else f"composition {target.composition!r}"
        text = suggestion_text(name, names, "layers there")
        return [Problem(f"{path}.layerName", f"layer {name!r} not found in {where}; {text}")]
    problems = []
    for comp, layers in matches:
        if len(layers) > 1 and not target.every_match:
            listed = ", ".join(str(layer.index) for layer in layers)
            problems.append(
                Problem(
                    f"{path}.layerName",
                    f"composition {comp.name!r} has {len(layers)} layers named {name!r}, at the "
                    f"indexes {listed}; give layerIndex instead of layerName to pick one, or "
                    '"everyMatch": true to patch them all',
                )
            )
        problems += _kind_problems(comp, layers, path, kind)
    return problems


def _index_problems(
    comps: list[CompositionInfo], index: int, path: str, every: bool, kind: str
) -> list[Problem]:
    in_range = [comp for comp in comps if 1 <= index <= len(comp.layers)]
    if every and in_range:
        return [
            p
            for comp in in_range
            for p in _kind_problems(comp, [comp.layers[index - 1]], path, kind)
        ]
    if not every and len(in_range) == len(comps):
        return [
            p for comp in comps for p in _kind_problems(comp, [comp.layers[index - 1]], path, kind)
        ]
    short = [comp for comp in comps if comp not in in_range]
    counts = ", ".join(f"{comp.name!r} has {len(comp.layers)}" for comp in short)
    return [
        Problem(
            f"{path}.layerIndex",
            f"layerIndex {index} is out of range: {counts} layers, numbered from 1 at the top",
        )
    ]


def _kind_problems(
    comp: CompositionInfo, layers: Sequence[LayerInfo], path: str, kind: str
) -> list[Problem]:
    if kind == "data":
        return []
    problems = []
    for layer in layers:
        if layer.type not in REPLACEABLE_TYPES:
            what = "a nested job's output" if kind == "precomp" else "footage"
            problems.append(
                Problem(
                    path,
                    f"layer {layer.index} {layer.name!r} in composition {comp.name!r} is a "
                    f"{layer.type} layer without a source, so {what} cannot replace it; address "
                    "a footage, solid or precomposition layer",
                )
            )
    return problems


def _target_compositions(
    info: TemplateInfo, composition: str | None
) -> tuple[list[CompositionInfo], str]:
    if composition in (None, "", EVERY_COMPOSITION):
        return list(info.compositions), "the template has no compositions"
    return resolve_compositions(info, composition)


def _matching_layers(
    info: TemplateInfo, target: models.LayerTarget
) -> list[tuple[CompositionInfo, LayerInfo]]:
    comps, _ = _target_compositions(info, target.composition)
    found = []
    for comp in comps:
        if target.layer_index is not None:
            if 1 <= target.layer_index <= len(comp.layers):
                found.append((comp, comp.layers[target.layer_index - 1]))
        else:
            found += [(comp, layer) for layer in comp.layers if layer.name == target.layer_name]
    return found
