"""Run aerender for one lease and follow its log."""

from __future__ import annotations

import logging
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from agent.aerender_args import RenderRequest, build_aerender_args
from agent.aerender_log import AerenderLog
from agent.engine_config import Engine
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
    hang_timeout_seconds: int, max_render_seconds: int, default_hang_timeout: float
) -> RenderLimits:
    """Return the watchdog limits of a task; 0 in a task setting means the default."""
    return RenderLimits(
        hang_timeout=float(hang_timeout_seconds)
        if hang_timeout_seconds > 0
        else default_hang_timeout,
        max_render_time=float(max_render_seconds) if max_render_seconds > 0 else None,
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

    def argv(self) -> list[str]:
        return build_aerender_args(self.engine.command, self.engine.version, self.request)

    def _on_output(self, data: bytes) -> None:
        self.log.feed(data)
        self.reporter.log(data)
        self.reporter.progress(self.log.percent, self.log.frames_done, self.log.frames_total)

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
        started = time.monotonic()
        try:
            outcome = await process.run()
        finally:
            self.log.close()
            self._process = None
        seconds = time.monotonic() - started

        self.reporter.progress(self.log.percent, self.log.frames_done, self.log.frames_total)
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
