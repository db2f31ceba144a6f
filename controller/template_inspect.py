"""Inspect an After Effects project with py-aep: compositions, their layers, and its fonts.

py-aep 0.18 lists `comp.layers` top first with a 0-based `layer.index`; a TemplateLayer's index
is 1-based, as in ExtendScript and in a job's layerIndex. controller/template_details.py reads
the property names of each layer and the Essential Graphics controllers of each composition.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import py_aep

from controller.template_details import (
    ControllerInfo,
    LayerProperties,
    composition_controllers,
    layer_properties,
)

logger = logging.getLogger(__name__)

# Version 1 recorded compositions, layers and fonts. Version 2 adds the property names of each
# layer and the Essential Graphics controllers of each composition. A template stored with an
# older version is inspected again when it is looked up (controller/templates.py).
INSPECTION_VERSION = 2

LAYER_TYPES = (
    "text",
    "solid",
    "footage",
    "precomp",
    "shape",
    "camera",
    "light",
    "null",
    "adjustment",
)


class TemplateUnreadable(ValueError):
    """The file is not an After Effects project py-aep can read."""


@dataclass(frozen=True)
class LayerInfo:
    # 1-based.
    index: int
    name: str
    # One of LAYER_TYPES.
    type: str
    source_name: str = ""
    # For a precomp layer: the composition it shows.
    source_composition: str = ""
    # None when not recorded: an inspection before version 2, or data py-aep cannot read.
    properties: LayerProperties | None = None


@dataclass(frozen=True)
class CompositionInfo:
    name: str
    width: int
    height: int
    frame_rate: float
    duration: float
    display_start_frame: int
    layers: tuple[LayerInfo, ...] = ()
    # The Essential Graphics panel's controllers in panel order; None when not recorded.
    controllers: tuple[ControllerInfo, ...] | None = None


@dataclass(frozen=True)
class TemplateInfo:
    compositions: tuple[CompositionInfo, ...] = ()
    # PostScript names of the fonts the project uses, sorted.
    fonts: tuple[str, ...] = field(default_factory=tuple)
    version: int = INSPECTION_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TemplateInfo:
        """Read to_json's output, also of an older version, which lacks the newer fields."""
        comps = tuple(_composition_from_json(comp) for comp in data["compositions"])
        return cls(compositions=comps, fonts=tuple(data["fonts"]), version=data.get("version", 1))

    def compositions_named(self, name: str) -> list[CompositionInfo]:
        return [comp for comp in self.compositions if comp.name == name]


def _composition_from_json(data: dict[str, Any]) -> CompositionInfo:
    plain = {key: value for key, value in data.items() if key not in ("layers", "controllers")}
    controllers = data.get("controllers")
    return CompositionInfo(
        **plain,
        layers=tuple(_layer_from_json(layer) for layer in data["layers"]),
        controllers=None
        if controllers is None
        else tuple(ControllerInfo(item["name"], item["type"]) for item in controllers),
    )


def _layer_from_json(data: dict[str, Any]) -> LayerInfo:
    properties = data.get("properties")
    plain = {key: value for key, value in data.items() if key != "properties"}
    return LayerInfo(
        **plain,
        properties=None if properties is None else LayerProperties.from_json(properties),
    )


def inspect_project(path: Path) -> TemplateInfo:
    """Read path with py-aep; raise TemplateUnreadable when it is not a readable project."""
    try:
        project = py_aep.parse(path).project
    except Exception as error:
        # py-aep raises many exception types on damaged or unsupported files.
        logger.info("py-aep cannot read %s", path, exc_info=True)
        raise TemplateUnreadable(
            f"{path.name} is not an After Effects project py-aep can read: "
            f"{type(error).__name__}: {error}"
        ) from error
    comps = tuple(_composition(comp) for comp in project.compositions)
    return TemplateInfo(compositions=comps, fonts=_fonts(project))


def _composition(comp: Any) -> CompositionInfo:
    return CompositionInfo(
        name=comp.name,
        width=int(comp.width),
        height=int(comp.height),
        frame_rate=float(comp.frame_rate),
        duration=float(comp.duration),
        display_start_frame=int(comp.display_start_frame),
        layers=tuple(_layer(position, layer) for position, layer in enumerate(comp.layers, 1)),
        controllers=composition_controllers(comp),
    )


def _layer(index: int, layer: Any) -> LayerInfo:
    source = getattr(layer, "source", None)
    source_name = "" if source is None else str(source.name)
    source_comp = source_name if isinstance(source, py_aep.CompItem) else ""
    return LayerInfo(
        index,
        str(layer.name),
        layer_type(layer),
        source_name,
        source_comp,
        layer_properties(layer),
    )


def layer_type(layer: Any) -> str:
    """Return the kind of a py-aep layer as one of LAYER_TYPES."""
    if isinstance(layer, py_aep.TextLayer):
        return "text"
    if isinstance(layer, py_aep.ShapeLayer):
        return "shape"
    if isinstance(layer, py_aep.CameraLayer):
        return "camera"
    if isinstance(layer, py_aep.LightLayer):
        return "light"
    if getattr(layer, "null_layer", False):
        return "null"
    if getattr(layer, "adjustment_layer", False):
        return "adjustment"
    source = getattr(layer, "source", None)
    if isinstance(source, py_aep.CompItem):
        return "precomp"
    if isinstance(getattr(source, "main_source", None), py_aep.SolidSource):
        return "solid"
    return "footage"


def _fonts(project: Any) -> tuple[str, ...]:
    names = set()
    for used in project.used_fonts:
        name = getattr(used.get("font"), "post_script_name", "")
        if name:
            names.add(str(name))
    return tuple(sorted(names))
