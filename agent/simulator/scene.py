"""Read a composition from an .aep (through py-aep) into the plain layers the renderer draws.

py-aep lists a comp's layers top first with 0-based `.index` values (ExtendScript counts
from 1); `CompScene.layers` lists them bottom first, in drawing order. The renderer draws
solids, file footage (stills, movies, image sequences), text and precomps. Text takes the
Fill Color of a text animator that covers all of it (agent/simulator/text_animators.py). It
skips guide, null, adjustment, shape, camera and light layers, disabled layers and audio-only
footage. `CompScene.audio` lists the layers that are heard (agent/simulator/audio.py). A
footage file missing at its stored path is looked for at its stored path relative to the
project (agent/simulator/footage_paths.py).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import py_aep

from agent.simulator.audio import AudioClip, read_audio
from agent.simulator.errors import AerenderError, ExitCode
from agent.simulator.footage_paths import footage_path, project_file_of
from agent.simulator.text_animators import animator_fill_color
from agent.simulator.timecode import frame_rate_fraction

logger = logging.getLogger(__name__)

# Recursion limit for precomps. After Effects itself rejects cyclic nesting.
MAX_PRECOMP_DEPTH = 32

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".tga", ".exr", ".webp", ".dpx"}
)


@dataclass(frozen=True)
class Placement:
    """A layer's 2D transform: comp-space position, layer-space anchor, percent scale."""

    position: tuple[float, float] = (0.0, 0.0)
    anchor: tuple[float, float] = (0.0, 0.0)
    scale: tuple[float, float] = (100.0, 100.0)
    rotation: float = 0.0  # degrees, clockwise on screen as in After Effects
    opacity: float = 100.0  # percent


@dataclass(frozen=True)
class Timing:
    """The time span of a layer in seconds of comp time, with `out_point` exclusive."""

    in_point: float
    out_point: float
    start_time: float = 0.0


@dataclass(frozen=True)
class SolidLayer:
    name: str
    placement: Placement
    timing: Timing
    color: tuple[float, float, float]
    width: int
    height: int


@dataclass(frozen=True)
class FootageLayer:
    """A layer whose source is a file: `kind` is still, video, sequence or placeholder."""

    name: str
    placement: Placement
    timing: Timing
    path: Path | None
    kind: str
    width: int
    height: int
    frame_rate: float
    missing: bool


@dataclass(frozen=True)
class TextLayer:
    name: str
    placement: Placement
    timing: Timing
    text: str
    font_size: float
    fill_color: tuple[float, float, float]
    justification: str  # left, center or right


@dataclass(frozen=True)
class PrecompLayer:
    name: str
    placement: Placement
    timing: Timing
    comp: CompScene


Layer = SolidLayer | FootageLayer | TextLayer | PrecompLayer


@dataclass
class CompScene:
    """One composition with its drawable layers, bottom first."""

    name: str
    width: int
    height: int
    rate: Fraction
    duration: float
    display_start_frame: int = 0
    drop_frame: bool = False
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    comment: str = ""
    layers: list[Layer] = field(default_factory=list)
    # The heard layers of this comp and its precomps, in this comp's time.
    audio: list[AudioClip] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return max(1, round(self.duration * self.rate))

    def walk(self) -> list[Layer]:
        """Return every layer of this comp and of its precomps, depth first."""
        layers: list[Layer] = []
        for layer in self.layers:
            layers.append(layer)
            if isinstance(layer, PrecompLayer):
                layers.extend(layer.comp.walk())
        return layers


def mark_footage_missing(scene: CompScene) -> None:
    """Mark every file footage layer of the comp and its precomps as missing.

    A comp without file footage gets a missing placeholder on top (a third of the comp,
    centred), so the fault still has footage to lose.
    """
    if not _mark_missing(scene):
        width, height = max(2, scene.width // 3), max(2, scene.height // 3)
        placeholder = FootageLayer(
            name="Missing Footage",
            placement=Placement(
                position=(scene.width / 2, scene.height / 2), anchor=(width / 2, height / 2)
            ),
            timing=Timing(0.0, scene.duration),
            path=Path("aefarm-sim-missing-footage.png"),
            kind="still",
            width=width,
            height=height,
            frame_rate=0.0,
            missing=True,
        )
        scene.layers.append(placeholder)


def _mark_missing(scene: CompScene) -> int:
    count = 0
    for position, layer in enumerate(scene.layers):
        if isinstance(layer, FootageLayer):
            scene.layers[position] = replace(layer, missing=True)
            count += 1
        elif isinstance(layer, PrecompLayer):
            count += _mark_missing(layer.comp)
    return count


def load_project(path: Path) -> Any:
    """Parse an .aep with py-aep, raising the aerender error for a missing or bad project."""
    if not path.is_file():
        raise AerenderError(
            ExitCode.NOT_FOUND,
            f"aerender ERROR: The project file was not found: {path}. Check the -project path.",
        )
    try:
        return py_aep.parse(path).project
    except Exception as error:  # py-aep raises many types for damaged files
        raise AerenderError(
            ExitCode.SCRIPTING_ERROR,
            f"aerender ERROR: The project {path} could not be opened: {error}",
        ) from error


def uses_frames_display(project: Any) -> bool:
    """Tell whether the project shows frame numbers instead of timecode."""
    return getattr(project, "time_display_type", None) == py_aep.TimeDisplayType.FRAMES


def find_comp(project: Any, name: str) -> Any | None:
    """Find the comp of a render-queue item with that name, else the first comp with it."""
    render_queue = project.render_queue
    for item in render_queue.items if render_queue is not None else []:
        if item.comp is not None and item.comp.name == name:
            return item.comp
    for comp in project.compositions:
        if comp.name == name:
            return comp
    return None


def find_render_queue_comp(project: Any, rqindex: int) -> Any | None:
    """Return the comp of the 1-based render-queue item, or None if there is none."""
    items = project.render_queue.items if project.render_queue is not None else []
    if 1 <= rqindex <= len(items):
        return items[rqindex - 1].comp
    return None


def read_comp(comp: Any, depth: int = 0) -> CompScene:
    """Convert a py-aep CompItem into a `CompScene`, precomps included."""
    if depth > MAX_PRECOMP_DEPTH:
        raise AerenderError(
            ExitCode.RENDER_ERROR,
            f"aerender Error: After Effects error: precomps nest deeper than "
            f"{MAX_PRECOMP_DEPTH} levels at composition {comp.name!r}.",
        )
    scene = CompScene(
        name=comp.name,
        width=int(comp.width),
        height=int(comp.height),
        rate=frame_rate_fraction(float(comp.frame_rate)),
        duration=float(comp.duration),
        display_start_frame=int(comp.display_start_frame),
        drop_frame=bool(getattr(comp, "drop_frame", False)),
        background=_rgb(getattr(comp, "bg_color", None) or (0.0, 0.0, 0.0)),
        comment=comp.comment or "",
        audio=read_audio(comp),
    )
    for layer in reversed(comp.layers):
        converted = _read_layer(layer, depth)
        if converted is not None:
            scene.layers.append(converted)
    return scene


def _read_layer(layer: Any, depth: int) -> Layer | None:
    if not isinstance(layer, py_aep.AVLayer) or not _is_drawn(layer):
        return None
    # NOTE: parenting, 3D, masks, effects, time remapping and keyframes are not simulated,
    # so each layer is drawn with the static value of its transform.
    placement = _placement(layer)
    timing = Timing(float(layer.in_point), float(layer.out_point), float(layer.start_time))

    if isinstance(layer, py_aep.TextLayer):
        return _text_layer(layer, placement, timing)
    if isinstance(layer, py_aep.ShapeLayer):
        logger.debug("skipping shape layer %r: shapes are not simulated", layer.name)
        return None

    source = layer.source
    if isinstance(source, py_aep.CompItem):
        return PrecompLayer(layer.name, placement, timing, read_comp(source, depth + 1))
    if not isinstance(source, py_aep.FootageItem):
        return None
    main_source = source.main_source
    if isinstance(main_source, py_aep.SolidSource):
        color = _rgb(main_source.color)
        return SolidLayer(
            layer.name, placement, timing, color, int(source.width), int(source.height)
        )
    return _footage_layer(layer, source, placement, timing)


def _is_drawn(layer: Any) -> bool:
    if not layer.enabled or layer.guide_layer or layer.null_layer or layer.adjustment_layer:
        return False
    return bool(getattr(layer, "has_video", True))


def _footage_layer(layer: Any, source: Any, placement: Placement, timing: Timing) -> Layer:
    main_source = source.main_source
    width, height = int(source.width), int(source.height)
    frame_rate = float(source.frame_rate or 0.0)
    if isinstance(main_source, py_aep.PlaceholderSource) or not getattr(main_source, "file", ""):
        return FootageLayer(
            layer.name, placement, timing, None, "placeholder", width, height, frame_rate, True
        )

    path = footage_path(main_source, project_file_of(source))
    if main_source.is_still:
        kind = "still"
    elif path.suffix.lower() in IMAGE_EXTENSIONS:
        kind = "sequence"
    else:
        kind = "video"
    missing = not os.path.isfile(path)
    return FootageLayer(
        layer.name, placement, timing, path, kind, width, height, frame_rate, missing
    )


def _text_layer(layer: Any, placement: Placement, timing: Timing) -> TextLayer:
    document = layer.text.source_text.value
    justification = {
        int(py_aep.ParagraphJustification.CENTER_JUSTIFY): "center",
        int(py_aep.ParagraphJustification.RIGHT_JUSTIFY): "right",
    }.get(int(document.justification), "left")
    return TextLayer(
        name=layer.name,
        placement=placement,
        timing=timing,
        # After Effects separates lines with carriage returns.
        text=str(document.text).replace("\r\n", "\n").replace("\r", "\n"),
        font_size=float(document.font_size),
        # A text animator's Fill Color over all of the text replaces the document's colour.
        fill_color=animator_fill_color(layer) or _rgb(document.fill_color),
        justification=justification,
    )


def _placement(layer: Any) -> Placement:
    transform = layer.transform
    position = transform.position.value
    anchor = transform.anchor_point.value
    scale = transform.scale.value
    return Placement(
        position=(float(position[0]), float(position[1])),
        anchor=(float(anchor[0]), float(anchor[1])),
        scale=(float(scale[0]), float(scale[1])),
        rotation=float(transform.rotation.value),
        opacity=float(transform.opacity.value),
    )


def _rgb(values: Any) -> tuple[float, float, float]:
    red, green, blue = (float(v) for v in list(values)[:3])
    return (red, green, blue)
