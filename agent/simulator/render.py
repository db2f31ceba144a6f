"""Render one composition with ffmpeg while printing aerender's comp and frame lines."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from agent.simulator.audio import AudioClip, add_audio
from agent.simulator.encode import FfmpegProcess
from agent.simulator.errors import AerenderError, ExitCode
from agent.simulator.faults import Faults
from agent.simulator.fonts import find_font_file
from agent.simulator.graph import FilterGraph, GraphBuilder
from agent.simulator.outputs import OutputModule, OutputTarget, RenderSettings
from agent.simulator.renderlog import RenderLog
from agent.simulator.scene import CompScene, FootageLayer

logger = logging.getLogger(__name__)

# With the out_of_order fault, frame lines are printed in groups of this many, shuffled.
OUT_OF_ORDER_GROUP = 4


@dataclass(frozen=True)
class RenderPlan:
    """A render job: comp frame indices (0 = first comp frame), templates and output."""

    scene: CompScene
    first_index: int
    last_index: int  # inclusive, like aerender's -e
    step: int
    module: OutputModule
    settings: RenderSettings
    target: OutputTarget
    faults: Faults
    continue_on_missing_footage: bool

    @property
    def frame_indices(self) -> range:
        return range(self.first_index, self.last_index + 1, self.step)

    @property
    def has_audio(self) -> bool:
        """Tell whether the output gets an audio stream: a movie module and heard layers."""
        return bool(self.module.audio_args) and bool(self.scene.audio)

    def displayed(self, index: int) -> int:
        return self.scene.display_start_frame + index


def render_comp(plan: RenderPlan, log: RenderLog) -> None:
    """Render `plan`, raising `AerenderError` when the render fails.

    The `hang_mid_render` fault never returns: it stops ffmpeg and sleeps until killed.
    """
    started = time.monotonic()
    _check_missing_footage(plan, log)
    log.comp_started(plan.scene.name)
    log.settings(plan.settings.name, plan.module.name, str(plan.target.path))
    first, last = plan.displayed(plan.first_index), plan.displayed(plan.last_index)
    log.headers(first, last, plan.scene.rate)

    try:
        plan.target.path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AerenderError(
            ExitCode.RENDER_ERROR,
            "aerender Error: After Effects error: the output folder "
            f"{plan.target.path.parent} could not be created: {error}",
        ) from error
    work_dir = Path(tempfile.mkdtemp(prefix="aefarm-sim-"))
    try:
        _encode(plan, log, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if plan.module.sequence and plan.step > 1:
        _renumber_sequence(plan)
    if "crash" in plan.faults:
        raise AerenderError(
            ExitCode.RENDER_ERROR,
            "aerender Error: After Effects error: Render stopped unexpectedly "
            f"(simulated crash) in composition {plan.scene.name}.",
        )
    log.comp_finished(plan.scene.name, time.monotonic() - started)


def _check_missing_footage(plan: RenderPlan, log: RenderLog) -> None:
    missing: list[FootageLayer | AudioClip] = [
        layer for layer in plan.scene.walk() if isinstance(layer, FootageLayer) and layer.missing
    ]
    # A missing sound file is missing footage too, even for outputs without audio.
    missing += [clip for clip in plan.scene.audio if clip.missing]
    details = [
        f'Missing footage: "{layer.path or "placeholder"}" in layer "{layer.name}".'
        for layer in missing
    ]
    if missing and not plan.continue_on_missing_footage:
        raise AerenderError(
            ExitCode.RENDER_ERROR,
            "aerender Error: After Effects error: Unable to render: "
            "a layer has missing dependencies.",
            *details,
            "Relink the footage, or pass -continueOnMissingFootage to render colour bars.",
        )
    for detail in details:
        log.warning(f"{detail} Rendering colour bars in its place.")


def _encode(plan: RenderPlan, log: RenderLog, work_dir: Path) -> None:
    graph = FilterGraph()
    builder = GraphBuilder(graph, work_dir, find_font_file())
    comp_label = builder.draw_comp(plan.scene, plan.last_index + 1, plan.module.alpha)
    graph.chains.append(f"{comp_label}{','.join(_output_filters(plan))}[out]")
    audio_label = None
    if plan.has_audio:
        rate = plan.scene.rate
        start = float(plan.first_index / rate)
        # The output lasts its frame count times each frame's step / rate seconds.
        duration = float(len(plan.frame_indices) * plan.step / rate)
        audio_label = add_audio(graph, plan.scene.audio, start, duration)
    for warning in graph.warnings:
        log.warning(warning)

    indices = list(plan.frame_indices)
    frame_limit = len(indices)
    if "crash" in plan.faults or "hang_mid_render" in plan.faults:
        frame_limit = max(1, len(indices) // 2)

    reporter = FrameReporter(
        log, [plan.displayed(i) for i in indices], plan.scene.rate, plan.faults
    )
    ffmpeg = FfmpegProcess(_ffmpeg_arguments(plan, graph, frame_limit, audio_label), work_dir)
    for done in ffmpeg.frames_done():
        reporter.advance(min(done, frame_limit))
        if "hang_mid_render" in plan.faults and reporter.reported >= frame_limit:
            ffmpeg.kill()
            shutil.rmtree(work_dir, ignore_errors=True)
            sleep_forever()
    status = ffmpeg.wait()
    if status != 0:
        raise AerenderError(
            ExitCode.RENDER_ERROR,
            f"aerender Error: After Effects error: rendering composition {plan.scene.name} "
            f"failed: {ffmpeg.error_text()}",
        )
    reporter.advance(frame_limit)
    reporter.finish()
    if "hang_mid_render" in plan.faults:
        shutil.rmtree(work_dir, ignore_errors=True)
        sleep_forever()


def _ffmpeg_arguments(
    plan: RenderPlan, graph: FilterGraph, frame_limit: int, audio_label: str | None = None
) -> list[str]:
    output_rate = plan.scene.rate / plan.step
    arguments = [
        *graph.input_arguments(),
        "-filter_complex", graph.text(), "-map", "[out]",
        "-r", f"{output_rate.numerator}/{output_rate.denominator}",
        "-frames:v", str(frame_limit), *plan.module.codec_args,
    ]  # fmt: skip
    if audio_label is not None:
        arguments += ["-map", audio_label, *plan.module.audio_args]
    if plan.module.sequence:
        start_number = plan.displayed(plan.first_index)
        arguments += ["-f", "image2", "-start_number", str(start_number)]
    arguments.append(plan.target.ffmpeg_path)
    return arguments


def _output_filters(plan: RenderPlan) -> list[str]:
    """Return the filters from the full comp to the encoded frames."""
    filters = [
        f"trim=start_frame={plan.first_index}:end_frame={plan.last_index + 1}",
        "setpts=PTS-STARTPTS",
    ]
    if plan.step > 1:
        rate = plan.scene.rate / plan.step
        filters += [
            f"select='not(mod(n,{plan.step}))'",
            f"setpts=N*{rate.denominator}/{rate.numerator}/TB",
        ]
    if plan.settings.draft:
        width, height = plan.scene.width, plan.scene.height
        filters += [
            f"scale={max(2, width // 2)}:{max(2, height // 2)}:flags=fast_bilinear",
            f"scale={width}:{height}:flags=fast_bilinear",
        ]
    if plan.module.even_size:
        filters.append("pad=ceil(iw/2)*2:ceil(ih/2)*2")
    if plan.faults.slow_seconds > 0:
        # realtime paces frames at speed times real time, and a frame lasts step / rate seconds.
        frame_seconds = float(plan.step / plan.scene.rate)
        filters.append(f"realtime=speed={frame_seconds / plan.faults.slow_seconds:.6f}")
    filters.append(f"format={plan.module.pixel_format}")
    return filters


def _renumber_sequence(plan: RenderPlan) -> None:
    """Rename frames ffmpeg numbered consecutively to the comp frame numbers they show.

    The highest number goes first, so a rename never lands on a frame not yet renamed.
    """
    start = plan.displayed(plan.first_index)
    count = len(plan.frame_indices)
    for offset in reversed(range(count)):
        written = plan.target.frame_path(start + offset)
        wanted = plan.target.frame_path(start + offset * plan.step)
        if written.exists() and offset:
            written.rename(wanted)


class FrameReporter:
    """Prints one frame line per frame as ffmpeg finishes them, in the shape faults ask."""

    def __init__(
        self, log: RenderLog, displayed_frames: list[int], rate: Fraction, faults: Faults
    ) -> None:
        self._log = log
        self._frames = displayed_frames
        self._rate = rate
        self._silent = "no_frame_lines" in faults
        self._shuffle = "out_of_order" in faults
        self._pending: list[int] = []
        self._last_time = time.monotonic()
        self.reported = 0

    def advance(self, done: int) -> None:
        """Report frames up to `done` (a count of frames of this render)."""
        while self.reported < min(done, len(self._frames)):
            self._pending.append(self.reported)
            self.reported += 1
            if not self._shuffle or len(self._pending) == OUT_OF_ORDER_GROUP:
                self._flush(shuffled=self._shuffle)

    def finish(self) -> None:
        self._flush(shuffled=False, reverse=self._shuffle)

    def _flush(self, shuffled: bool, reverse: bool = False) -> None:
        order = list(self._pending)
        if shuffled:
            # Pairs swapped (2 1 4 3), then the group's first frame again, as MFR prints it.
            order = [order[i ^ 1] for i in range(len(order))] + [order[0]]
        elif reverse:
            order.reverse()
        self._pending.clear()
        now = time.monotonic()
        for position in order:
            if not self._silent:
                seconds = now - self._last_time
                self._log.frame(self._frames[position], position + 1, seconds, self._rate)
        self._last_time = now


def sleep_forever() -> None:
    """Sleep until a signal ends the process, as a hung After Effects does."""
    while True:
        time.sleep(3600)
