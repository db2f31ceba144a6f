"""Build one ffmpeg filter graph that draws a composition, precomps included.

Each comp is a transparent or background-coloured canvas at its own size and rate, with its
layers overlaid bottom to top at their transforms and shown from in point to out point. A
precomp is drawn by the same steps into its own canvas, which is then a layer of its parent,
so ffmpeg runs once per render. Text files and the font live in the render's work folder
(ffmpeg's working directory), so no path inside the graph needs escaping.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from agent.simulator.scene import (
    CompScene,
    FootageLayer,
    Layer,
    Placement,
    PrecompLayer,
    SolidLayer,
    TextLayer,
    Timing,
)

logger = logging.getLogger(__name__)

FONT_NAME = "font.ttf"


@dataclass
class FilterGraph:
    """ffmpeg input arguments and the `-filter_complex` chains that read them."""

    inputs: list[list[str]] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _labels: int = 0

    def add_input(self, arguments: list[str]) -> str:
        self.inputs.append(arguments)
        return f"[{len(self.inputs) - 1}:v]"

    def new_label(self, prefix: str) -> str:
        self._labels += 1
        return f"[{prefix}{self._labels}]"

    def input_arguments(self) -> list[str]:
        return [argument for arguments in self.inputs for argument in arguments]

    def text(self) -> str:
        return ";\n".join(self.chains)


class GraphBuilder:
    """Adds the chains that draw comps to a `FilterGraph`.

    Footage marked missing is drawn as SMPTE colour bars; the caller decides beforehand
    whether missing footage stops the render.
    """

    def __init__(self, graph: FilterGraph, work_dir: Path, font: Path | None) -> None:
        self.graph = graph
        self.work_dir = work_dir
        self.font_available = font is not None
        if font is not None:
            shutil.copyfile(font, work_dir / FONT_NAME)
        self._text_files = 0

    def draw_comp(self, scene: CompScene, frames: int, transparent: bool) -> str:
        """Add chains drawing `frames` frames of `scene` from its time 0; return the label."""
        seconds = _seconds(frames, scene.rate)
        color = "black@0.0" if transparent else _hex_color(scene.background)
        label = self.graph.new_label("canvas")
        self.graph.chains.append(
            f"color=c={color}:s={scene.width}x{scene.height}:r={_rate(scene.rate)}"
            f":d={seconds},format=rgba{label}"
        )
        for layer in scene.layers:
            label = self._draw_layer(label, layer, scene, seconds)
        return label

    def _draw_layer(self, below: str, layer: Layer, scene: CompScene, seconds: str) -> str:
        if isinstance(layer, TextLayer):
            return self._draw_text(below, layer, scene.rate)

        source = self._layer_source(layer, scene, seconds)
        if source is None:
            return below
        width, height = _source_size(layer)
        placed = self._transform(source, layer.placement, width, height)
        if placed is None:
            return below
        pixels, x, y = placed

        label = self.graph.new_label("comp")
        self.graph.chains.append(
            f"{below}{pixels}overlay=x={x}:y={y}:format=auto:eof_action=pass"
            f":enable='{_enable(layer.timing, scene.rate)}'{label}"
        )
        return label

    def _layer_source(self, layer: Layer, scene: CompScene, seconds: str) -> str | None:
        """Add the chain producing the layer's pixels at the comp's rate, and return its label."""
        rate = _rate(scene.rate)
        label = self.graph.new_label("layer")
        shift = f"setpts=PTS-STARTPTS+{layer.timing.start_time:.6f}/TB"
        if isinstance(layer, SolidLayer):
            chain = (
                f"color=c={_hex_color(layer.color)}:s={layer.width}x{layer.height}"
                f":r={rate}:d={seconds},format=rgba"
            )
        elif isinstance(layer, PrecompLayer):
            inner = self.draw_comp(layer.comp, layer.comp.frame_count, transparent=True)
            chain = f"{inner}fps={rate},{shift}"
        elif isinstance(layer, FootageLayer):
            chain = self._footage_chain(layer, rate, seconds, shift)
        else:
            return None
        self.graph.chains.append(f"{chain}{label}")
        return label

    def _footage_chain(self, layer: FootageLayer, rate: str, seconds: str, shift: str) -> str:
        if layer.missing or layer.path is None:
            size = f"{max(layer.width, 2)}x{max(layer.height, 2)}"
            return f"smptebars=s={size}:r={rate}:d={seconds},format=rgba"
        if layer.kind == "still":
            arguments = ["-loop", "1", "-framerate", rate, "-t", seconds, "-i", str(layer.path)]
            return f"{self.graph.add_input(arguments)}format=rgba"
        if layer.kind == "sequence":
            pattern, start_number = sequence_pattern(layer.path)
            sequence_rate = _rate(Fraction(layer.frame_rate or 30).limit_denominator(1001))
            arguments = [
                "-framerate", sequence_rate, "-start_number", str(start_number),
                "-i", str(pattern),
            ]  # fmt: skip
            return f"{self.graph.add_input(arguments)}{shift},fps={rate},format=rgba"
        source = self.graph.add_input(["-i", str(layer.path)])
        return f"{source}{shift},fps={rate},format=rgba"

    def _transform(
        self, source: str, placement: Placement, width: int, height: int
    ) -> tuple[str, int, int] | None:
        """Scale, flip, rotate and fade a layer. Returns its label and top-left comp position."""
        scale_x, scale_y = placement.scale[0] / 100, placement.scale[1] / 100
        scaled_width, scaled_height = round(width * abs(scale_x)), round(height * abs(scale_y))
        if scaled_width < 1 or scaled_height < 1 or placement.opacity <= 0:
            return None

        filters = [f"scale={scaled_width}:{scaled_height}"]
        if scale_x < 0:
            filters.append("hflip")
        if scale_y < 0:
            filters.append("vflip")

        anchor_x, anchor_y = placement.anchor
        position_x, position_y = placement.position
        # The anchor point lands on the position, and the centre offset rotates about it.
        offset_x = (width / 2 - anchor_x) * scale_x
        offset_y = (height / 2 - anchor_y) * scale_y
        box_width, box_height = float(scaled_width), float(scaled_height)
        if placement.rotation % 360:
            angle = math.radians(placement.rotation)
            cos, sin = math.cos(angle), math.sin(angle)
            offset_x, offset_y = offset_x * cos - offset_y * sin, offset_x * sin + offset_y * cos
            filters.append(f"rotate=a={angle:.6f}:ow=rotw({angle:.6f}):oh=roth({angle:.6f}):c=none")
            box_width = abs(scaled_width * cos) + abs(scaled_height * sin)
            box_height = abs(scaled_width * sin) + abs(scaled_height * cos)
        if placement.opacity < 100:
            filters.append(f"colorchannelmixer=aa={placement.opacity / 100:.4f}")

        label = self.graph.new_label("placed")
        self.graph.chains.append(f"{source}{','.join(filters)}{label}")
        x = round(position_x + offset_x - box_width / 2)
        y = round(position_y + offset_y - box_height / 2)
        return label, x, y

    def _draw_text(self, below: str, layer: TextLayer, rate: Fraction) -> str:
        if not self.font_available:
            self.graph.warnings.append(
                f'No font file was found, so text layer "{layer.name}" is not drawn. '
                "Install a TrueType font (for example fonts-dejavu-core)."
            )
            return below
        if not layer.text.strip():
            return below

        self._text_files += 1
        text_file = f"text{self._text_files}.txt"
        (self.work_dir / text_file).write_text(layer.text, encoding="utf-8")

        placement = layer.placement
        scale_x, scale_y = placement.scale[0] / 100, placement.scale[1] / 100
        font_size = max(1, round(layer.font_size * abs(scale_y)))
        # A text layer's origin is the start of the first baseline: the left end for left
        # justified text, the middle for centred text, the right end for right justified text.
        origin_x = placement.position[0] - placement.anchor[0] * scale_x
        baseline_y = placement.position[1] - placement.anchor[1] * scale_y
        x = {"center": f"{origin_x:.1f}-text_w/2", "right": f"{origin_x:.1f}-text_w"}.get(
            layer.justification, f"{origin_x:.1f}"
        )
        color = f"{_hex_color(layer.fill_color)}@{min(placement.opacity, 100) / 100:.3f}"

        label = self.graph.new_label("text")
        self.graph.chains.append(
            f"{below}drawtext=fontfile={FONT_NAME}:textfile={text_file}:expansion=none"
            f":fontsize={font_size}:fontcolor={color}:x={x}:y={baseline_y:.1f}-ascent"
            f":enable='{_enable(layer.timing, rate)}'{label}"
        )
        return label


def sequence_pattern(first_file: Path) -> tuple[Path, int]:
    """Turn the first file of an image sequence into an ffmpeg `%0Nd` pattern and number."""
    match = re.search(r"(\d+)(?!.*\d)", first_file.stem)
    if match is None:
        return first_file, 0
    digits = match.group(1)
    width = f"%0{len(digits)}d" if digits.startswith("0") else "%d"
    stem = first_file.stem.replace("%", "%%")
    start, end = match.span(1)
    name = f"{stem[:start]}{width}{stem[end:]}{first_file.suffix}"
    return first_file.with_name(name), int(digits)


def _source_size(layer: Layer) -> tuple[int, int]:
    if isinstance(layer, PrecompLayer):
        return layer.comp.width, layer.comp.height
    if isinstance(layer, SolidLayer | FootageLayer):
        return max(layer.width, 1), max(layer.height, 1)
    return 1, 1


def _enable(timing: Timing, rate: Fraction) -> str:
    """Return the `enable` expression for in point (inclusive) to out point (exclusive)."""
    # Half a frame of slack keeps frame times that round below an in or out point in place.
    slack = 0.5 / float(rate)
    return f"gte(t,{timing.in_point - slack:.6f})*lt(t,{timing.out_point - slack:.6f})"


def _seconds(frames: int, rate: Fraction) -> str:
    # One extra frame of source keeps sources from ending a frame early on rounding.
    return f"{float((frames + 1) / rate):.6f}"


def _rate(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


def _hex_color(rgb: tuple[float, float, float]) -> str:
    channels = (max(0, min(255, round(value * 255))) for value in rgb)
    return "0x" + "".join(f"{channel:02X}" for channel in channels)
