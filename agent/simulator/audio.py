"""The sound of a composition: read its audio layers and mix them into the render with ffmpeg.

A layer is heard when it has audio and its audio switch is on, whatever its video switch:
audio files, movies with sound, and precomps that contain such layers. Each layer plays its
source from the layer's start time, between its in and out points, and precomps pass on the
sound of their own layers shifted by their start time. The layers are summed without
normalising, as After Effects mixes them, into 48 kHz stereo. Output modules that carry audio
(the movie templates) get a stream of exactly the rendered time span, silent where no layer
plays. A comp without audio layers gets no stream, as After Effects' `Audio Output Auto`
templates write none.

NOTE: Audio Levels, audio effects, time stretch, time remapping and solo switches are not
simulated, so every heard layer plays at its source's level and speed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import py_aep

from agent.simulator.footage_paths import footage_path, project_file_of

if TYPE_CHECKING:
    # graph.py imports scene.py, which imports this module.
    from agent.simulator.graph import FilterGraph

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48000
CHANNEL_LAYOUT = "stereo"
# Precomps nest at most this deep; After Effects itself rejects cyclic nesting.
MAX_AUDIO_DEPTH = 32


@dataclass(frozen=True)
class AudioClip:
    """One heard layer in comp seconds: source time 0 plays at `offset`.

    The clip is heard from `start` (inclusive) to `end` (exclusive), which the layer's in and
    out points and those of the precomp layers around it bound.
    """

    name: str
    path: Path
    offset: float
    start: float
    end: float
    missing: bool = False


def read_audio(comp: Any, depth: int = 0) -> list[AudioClip]:
    """Return the heard audio layers of a py-aep comp and of its precomps, in comp time."""
    clips: list[AudioClip] = []
    for layer in comp.layers:
        if not isinstance(layer, py_aep.AVLayer) or isinstance(layer, py_aep.TextLayer):
            continue
        if not getattr(layer, "has_audio", False) or not getattr(layer, "audio_enabled", False):
            continue
        start, end = float(layer.in_point), float(layer.out_point)
        offset = float(layer.start_time)
        source = layer.source
        if isinstance(source, py_aep.CompItem):
            if depth >= MAX_AUDIO_DEPTH:
                logger.warning(
                    "precomps nest deeper than %d levels, so the audio of %r is not mixed",
                    MAX_AUDIO_DEPTH,
                    source.name,
                )
                continue
            for inner in read_audio(source, depth + 1):
                heard = _shifted(inner, offset, start, end)
                if heard is not None:
                    clips.append(heard)
        elif isinstance(source, py_aep.FootageItem) and isinstance(
            source.main_source, py_aep.FileSource
        ):
            path = footage_path(source.main_source, project_file_of(comp))
            clips.append(AudioClip(layer.name, path, offset, start, end, not path.is_file()))
    return clips


def _shifted(clip: AudioClip, offset: float, start: float, end: float) -> AudioClip | None:
    """Move a precomp's clip into the parent's time and cut it to the precomp layer's span."""
    heard_start = max(start, clip.start + offset)
    heard_end = min(end, clip.end + offset)
    if heard_end <= heard_start:
        return None
    return replace(clip, offset=clip.offset + offset, start=heard_start, end=heard_end)


def add_audio(graph: FilterGraph, clips: list[AudioClip], start: float, duration: float) -> str:
    """Add inputs and chains mixing clips over comp seconds [start, start + duration).

    Returns the label of the mixed stream, which lasts exactly duration seconds. Missing clips
    are silent. The caller decides beforehand whether missing footage stops the render.
    """
    silence = graph.new_label("silence")
    graph.chains.append(
        f"anullsrc=r={SAMPLE_RATE}:cl={CHANNEL_LAYOUT},atrim=duration={duration:.6f}{silence}"
    )
    mixed = [silence]
    for clip in clips:
        label = _clip_chain(graph, clip, start, start + duration)
        if label is not None:
            mixed.append(label)

    label = graph.new_label("audio")
    # duration=first ends the mix with the silence, so the stream spans the render exactly.
    graph.chains.append(
        f"{''.join(mixed)}amix=inputs={len(mixed)}:duration=first:dropout_transition=0"
        f":normalize=0,atrim=duration={duration:.6f}{label}"
    )
    return label


def _clip_chain(graph: FilterGraph, clip: AudioClip, start: float, end: float) -> str | None:
    """Add the chain that plays the part of clip heard in [start, end), delayed to its place."""
    if clip.missing:
        return None
    heard_start = max(clip.start, start)
    heard_end = min(clip.end, end)
    if heard_end <= heard_start:
        return None
    # Before the layer's start time the source has no sound yet, so playing starts later.
    source_start = max(0.0, heard_start - clip.offset)
    source_end = heard_end - clip.offset
    if source_end <= source_start:
        return None
    delay_samples = round((clip.offset + source_start - start) * SAMPLE_RATE)

    index = len(graph.inputs)
    graph.inputs.append(["-i", str(clip.path)])
    label = graph.new_label("sound")
    graph.chains.append(
        f"[{index}:a]atrim=start={source_start:.6f}:end={source_end:.6f},asetpts=PTS-STARTPTS,"
        f"aresample={SAMPLE_RATE},aformat=channel_layouts={CHANNEL_LAYOUT},"
        f"adelay=delays={delay_samples}S:all=1{label}"
    )
    return label
