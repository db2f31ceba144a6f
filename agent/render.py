"""Run aerender for one lease and follow its log."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from agent.aerender_args import RenderRequest, build_aerender_args
from agent.aerender_log import AerenderLog
from agent.config import DEFAULT_STUCK_EXIT_GRACE
from agent.engine_config import Engine
from agent.output_progress import SequenceFrameCounter, sequence_pattern
from agent.progress import LeaseReporter
from agent.render_process import RenderLimits, RenderOutcome, RenderProcess

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderRun:
    outcome: RenderOutcome
    log: AerenderLog
    # Wall-clock seconds from start to exit.
    seconds: float


def render_limits(
    hang_timeout_seconds: int,
    max_render_seconds: int,
    default_hang_timeout: float,
    *,
    stuck_exit_grace: float = DEFAULT_STUCK_EXIT_GRACE,
) -> RenderLimits:
    """Return the watchdog limits of a task; 0 in a task setting means the agent's default."""
    return RenderLimits(
        hang_timeout=float(hang_timeout_seconds)
        if hang_timeout_seconds > 0
        else default_hang_timeout,
        max_render_time=float(max_render_seconds) if max_render_seconds > 0 else None,
        stuck_exit_grace=stuck_exit_grace,
    )


def _output_probe(folder: Path) -> tuple[bool, int]:
    """Return (output present, total bytes in folder) for the render watchdogs.

    Growth counts as activity for the hang watchdog, because some output modules print no
    frame lines. Any non-empty output counts as present.
    """
    size = _folder_size(folder)
    return size > 0, size


def _folder_size(folder: Path) -> int:
    total = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except FileNotFoundError:
            continue
    return total


class AerenderRun:
    """One aerender process: start it, feed its output to the log parser and the reporter."""

    def __init__(
        self,
        engine: Engine,
        request: RenderRequest,
        *,
        workspace: Path,
        limits: RenderLimits,
        reporter: LeaseReporter,
        frames_expected: int | None,
    ) -> None:
        self.engine = engine
        self.request = request
        self.workspace = workspace
        self.limits = limits
        self.reporter = reporter
        self.log = AerenderLog(frames_expected)
        self._process: RenderProcess | None = None
        self._cancelled = False
        self._frame_counter: SequenceFrameCounter | None = None

    def argv(self) -> list[str]:
        return build_aerender_args(self.engine.command, self.engine.version, self.request)

    def _on_output(self, data: bytes) -> None:
        self.log.feed(data)
        self.reporter.log(data)
        self._report_progress()

    def _report_progress(self) -> None:
        """Send progress from the frame lines, else from the sequence frames written.

        Without frame lines and without a sequence the percent is None, sent as -1 (unknown).
        """
        log = self.log
        percent, frames_done, total = log.percent, log.frames_done, log.frames_total
        counter = self._frame_counter
        if not log.saw_frame_lines and total:
            if percent == 100.0:
                # Every composition printed its Finished line, so every frame is done.
                frames_done = total
            elif counter is not None and counter.frames > 0:
                frames_done = min(counter.frames, total)
                percent = 100.0 * frames_done / total
        self.reporter.progress(percent, frames_done, total)

    def _start_frame_counter(self) -> None:
        if sequence_pattern(self.request.output) is None:
            return
        loop = asyncio.get_running_loop()

        def on_change() -> None:
            loop.call_soon_threadsafe(self._report_progress)

        counter = SequenceFrameCounter(self.request.output, on_change)
        counter.start()
        self._frame_counter = counter

    async def run(self) -> RenderRun:
        argv = self.argv()
        output_folder = self.request.output.parent
        output_folder.mkdir(parents=True, exist_ok=True)
        process = RenderProcess(
            argv,
            cwd=self.workspace,
            env={**os.environ, **self.engine.env},
            limits=self.limits,
            on_output=self._on_output,
            output_probe=lambda: _output_probe(output_folder),
            finished_probe=lambda: self.log.finished,
        )
        self._process = process
        if self._cancelled:
            # A cancel that came before the process existed: run() returns at once.
            await process.cancel()

        logger.info("starting %s", shlex.join(argv))
        self._start_frame_counter()
        started = time.monotonic()
        try:
            outcome = await process.run()
        finally:
            self.log.close()
            self._process = None
            if self._frame_counter is not None:
                await asyncio.to_thread(self._frame_counter.stop)
        seconds = time.monotonic() - started

        self._report_progress()
        logger.info(
            "aerender ended: exit code %s, stopped %s, %.1f s, %d frames, %d log bytes",
            outcome.exit_code,
            outcome.stopped_reason or "no",
            seconds,
            self.log.frames_done,
            outcome.log_bytes,
        )
        return RenderRun(outcome, self.log, seconds)

    async def cancel(self) -> None:
        self._cancelled = True
        if self._process is not None:
            await self._process.cancel()
