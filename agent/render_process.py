"""Run one aerender invocation under watchdogs.

aerender can hang while launching, hang mid-render, or never exit after the last frame, and
After Effects can outlive it. RenderProcess watches for all of these, and stops the whole
process tree (agent.proctree) on every way out of run(), a normal exit included.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import proctree

logger = logging.getLogger(__name__)

# Bytes per read from the merged stdout and stderr pipe.
_CHUNK_SIZE = 64 * 1024
# Seconds to wait for the output pipe to close after the tree was stopped. Only a process
# outside the tree can still hold it open then.
_DRAIN_TIMEOUT = 5.0
# Bounds of the watchdog tick in seconds. The tick is a tenth of the shortest limit, so short
# limits in tests are still checked often, and real renders are checked twice a second.
_MIN_TICK = 0.01
_MAX_TICK = 0.5
# Upper bound in seconds between output probes while the render runs.
_MAX_OUTPUT_PROBE_INTERVAL = 5.0


@dataclass
class RenderLimits:
    """Watchdog limits of one render, in seconds."""

    # Time without any new log byte, and without growth of the output, before the render
    # counts as hung. It runs from process start because a launch can hang too, and it must
    # be longer than the slowest single frame.
    hang_timeout: float = 600.0
    # Wall time from start after which the render is stopped; None means no limit.
    max_render_time: float | None = None
    # Time to wait for aerender to exit once the log reported that the composition finished
    # and the output is complete and unchanged in size. After it the render counts as complete.
    stuck_exit_grace: float = 30.0
    # Time between SIGTERM and SIGKILL when the tree is stopped.
    terminate_grace: float = 10.0

    def __post_init__(self) -> None:
        if self.hang_timeout <= 0:
            raise ValueError(f"hang_timeout is {self.hang_timeout}; it must be above 0 seconds")
        if self.max_render_time is not None and self.max_render_time <= 0:
            raise ValueError(
                f"max_render_time is {self.max_render_time}; it must be above 0 seconds, "
                "or None for no limit"
            )
        if self.stuck_exit_grace < 0:
            raise ValueError(f"stuck_exit_grace is {self.stuck_exit_grace}; it must be 0 or more")
        if self.terminate_grace < 0:
            raise ValueError(f"terminate_grace is {self.terminate_grace}; it must be 0 or more")


@dataclass
class RenderOutcome:
    """Result of one aerender invocation."""

    # Exit code of aerender, negative for a signal (asyncio's convention); None when the agent
    # stopped the process.
    exit_code: int | None
    # None, "hang", "max_render_time", "stuck_exit" or "cancelled".
    stopped_reason: str | None
    # Seconds from process start until run() returned, tree stop included.
    elapsed: float
    # Bytes read from the merged stdout and stderr.
    log_bytes: int


class StuckExitWatch:
    """Decide when a finished render whose process does not exit counts as complete.

    The render counts as complete once the log reported that the composition finished, the
    output is complete, its size was the same in two probes in a row, and it stayed so for
    grace seconds. Any change in size, or an incomplete output, starts the wait again.
    """

    def __init__(self, grace: float) -> None:
        self._grace = grace
        self._last_size: int | None = None
        self._stable_since: float | None = None

    def observe(self, now: float, finished: bool, probe: tuple[bool, int] | None) -> bool:
        """Record one probe at clock value now and return whether the grace has passed."""
        if not finished or probe is None or not probe[0]:
            self._last_size = None
            self._stable_since = None
            return False

        size = probe[1]
        if size != self._last_size:
            self._last_size = size
            self._stable_since = None
            return False
        if self._stable_since is None:
            self._stable_since = now
        return now - self._stable_since >= self._grace

    @property
    def size(self) -> int | None:
        """Output size in bytes from the last complete probe, or None."""
        return self._last_size


class RenderProcess:
    """One aerender invocation with hang, maximum-time and stuck-exit watchdogs.

    on_output receives every chunk of the merged stdout and stderr as it arrives.
    finished_probe returns True once the log reported that the composition finished.
    output_probe returns (exists_and_complete, size_bytes) of the output. A change in that
    size counts as activity for the hang watchdog, because some output modules print no frame
    lines. The stuck-exit watchdog needs both probes and is off without them. An exception
    from a callback stops the tree and propagates out of run().
    """

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        env: Mapping[str, str],
        limits: RenderLimits,
        on_output: Callable[[bytes], None],
        output_probe: Callable[[], tuple[bool, int]] | None = None,
        finished_probe: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        log_context: str = "",
    ) -> None:
        if not argv:
            raise ValueError("argv is empty; pass the aerender path followed by its flags")
        self._argv = list(argv)
        self._cwd = cwd
        self._limits = limits
        self._on_output = on_output
        self._output_probe = output_probe
        self._finished_probe = finished_probe
        self._clock = clock
        # Appended to every log line, for example "job=... lease=... attempt=2 agent=...".
        self._log_context = f" ({log_context})" if log_context else ""

        self.tree_token = proctree.new_tree_token()
        self._env = proctree.spawn_env(env, self.tree_token)
        self.pid: int | None = None
        self._log_bytes = 0
        self._started_at = 0.0
        self._last_activity_at = 0.0
        self._last_output_size: int | None = None
        self._next_output_probe = 0.0
        self._run_started = False
        self._cancel_requested = asyncio.Event()
        self._tree_stopped = asyncio.Event()

    async def run(self) -> RenderOutcome:
        """Start aerender, watch it until it exits or a watchdog fires, then stop its tree."""
        if self._run_started:
            raise RuntimeError("RenderProcess.run() was already called; make a new RenderProcess")
        self._run_started = True
        if self._cancel_requested.is_set():
            self._tree_stopped.set()
            logger.info("render of %s cancelled before start%s", self._argv[0], self._log_context)
            return RenderOutcome(None, "cancelled", 0.0, 0)

        try:
            process = await self._start()
        except BaseException:
            self._tree_stopped.set()
            raise
        assert process.stdout is not None
        reader = asyncio.create_task(self._read_output(process.stdout))

        try:
            reason = await self._watch(process, reader)
        except asyncio.CancelledError:
            self._log_stop(process.pid, "task cancelled", "run() was cancelled")
            await self._stop_tree(reader)
            raise
        except Exception as error:
            logger.error(
                "stopping %s pid %d after an error: %r%s",
                self._argv[0],
                process.pid,
                error,
                self._log_context,
            )
            await self._stop_tree(reader)
            raise

        await self._stop_tree(reader)
        exit_code = process.returncode if reason is None else None
        return RenderOutcome(
            exit_code=exit_code,
            stopped_reason=reason,
            elapsed=self._clock() - self._started_at,
            log_bytes=self._log_bytes,
        )

    async def cancel(self) -> None:
        """Stop the tree (terminate, grace, kill) and return once it is stopped.

        run() then returns stopped_reason "cancelled". Before run() it makes run() return at
        once without starting aerender; after run() it does nothing.
        """
        self._cancel_requested.set()
        if self._run_started:
            await self._tree_stopped.wait()

    async def _start(self) -> asyncio.subprocess.Process:
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                cwd=self._cwd,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                **proctree.spawn_options(),
            )
        except OSError as error:
            logger.error("cannot start %s: %s%s", self._argv[0], error, self._log_context)
            raise

        self._started_at = self._clock()
        self._last_activity_at = self._started_at
        self.pid = process.pid
        if sys.platform == "win32":
            proctree.contain_tree(process.pid, self.tree_token)
        logger.info(
            "started %s pid %d in %s, tree token %s%s",
            self._argv[0],
            process.pid,
            self._cwd,
            self.tree_token,
            self._log_context,
        )
        return process

    async def _read_output(self, stream: asyncio.StreamReader) -> None:
        while True:
            chunk = await stream.read(_CHUNK_SIZE)
            if not chunk:
                return
            self._log_bytes += len(chunk)
            self._last_activity_at = self._clock()
            self._on_output(chunk)

    async def _watch(
        self, process: asyncio.subprocess.Process, reader: asyncio.Task[None]
    ) -> str | None:
        """Wait until aerender exits (returns None) or a watchdog fires (returns the reason)."""
        stuck_exit = StuckExitWatch(self._limits.stuck_exit_grace)
        tick = self._tick()
        # In Python 3.11 asyncio, Process.wait() returns only after the pipe closes too, which a
        # detached child holding the pipe prevents, so the loop also polls returncode.
        exited = asyncio.ensure_future(process.wait())
        cancelled = asyncio.ensure_future(self._cancel_requested.wait())
        try:
            while True:
                waiting: set[asyncio.Future[Any]] = {exited, cancelled}
                if not reader.done():
                    waiting.add(reader)
                await asyncio.wait(waiting, timeout=tick, return_when=asyncio.FIRST_COMPLETED)

                if cancelled.done():
                    self._log_stop(process.pid, "cancelled", "cancel requested")
                    return "cancelled"
                if reader.done():
                    reader.result()
                if process.returncode is not None:
                    logger.info(
                        "%s pid %d exited with code %d after %.1f s%s",
                        self._argv[0],
                        process.pid,
                        process.returncode,
                        self._clock() - self._started_at,
                        self._log_context,
                    )
                    return None
                reason = self._check_limits(process.pid, stuck_exit)
                if reason is not None:
                    return reason
        finally:
            exited.cancel()
            cancelled.cancel()

    def _check_limits(self, pid: int, stuck_exit: StuckExitWatch) -> str | None:
        now = self._clock()
        limits = self._limits
        finished = self._finished_probe() if self._finished_probe is not None else False
        probe = self._probe_output(now, finished)

        has_probes = self._finished_probe is not None and self._output_probe is not None
        if has_probes and stuck_exit.observe(now, finished, probe):
            detail = (
                f"the composition finished and the output stayed at {stuck_exit.size} "
                f"bytes, but the process did not exit within {limits.stuck_exit_grace:g} s"
            )
            self._log_stop(pid, "stuck_exit", detail)
            return "stuck_exit"

        elapsed = now - self._started_at
        if limits.max_render_time is not None and elapsed >= limits.max_render_time:
            detail = f"running for {elapsed:.1f} s, limit {limits.max_render_time:g} s"
            self._log_stop(pid, "max_render_time", detail)
            return "max_render_time"

        silent = now - self._last_activity_at
        if silent >= limits.hang_timeout:
            detail = (
                f"no log output and no output growth for {silent:.1f} s, "
                f"limit {limits.hang_timeout:g} s"
            )
            self._log_stop(pid, "hang", detail)
            return "hang"
        return None

    def _probe_output(self, now: float, finished: bool) -> tuple[bool, int] | None:
        """Probe the output on every tick once finished, else every output probe interval.

        A change in size since the last probe moves the hang watchdog's last activity to now.
        """
        if self._output_probe is None:
            return None
        if not finished and now < self._next_output_probe:
            return None

        probe = self._output_probe()
        self._next_output_probe = now + self._output_probe_interval()
        size = probe[1]
        if self._last_output_size is not None and size != self._last_output_size:
            self._last_activity_at = now
        self._last_output_size = size
        return probe

    def _output_probe_interval(self) -> float:
        # Rare enough that a folder of many sequence frames is not listed twice a second.
        return min(_MAX_OUTPUT_PROBE_INTERVAL, max(self._tick(), self._limits.hang_timeout / 10))

    def _tick(self) -> float:
        limits = [self._limits.hang_timeout, self._limits.stuck_exit_grace]
        if self._limits.max_render_time is not None:
            limits.append(self._limits.max_render_time)
        shortest = min((limit for limit in limits if limit > 0), default=_MAX_TICK)
        return min(_MAX_TICK, max(_MIN_TICK, shortest / 10))

    def _log_stop(self, pid: int, reason: str, detail: str) -> None:
        logger.warning(
            "stopping %s pid %d: %s (%s)%s", self._argv[0], pid, reason, detail, self._log_context
        )

    async def _stop_tree(self, reader: asyncio.Task[None]) -> None:
        """Stop every process of the tree, then read the rest of the output."""
        assert self.pid is not None
        try:
            signalled = await proctree.terminate_tree(
                self.pid, self.tree_token, self._limits.terminate_grace
            )
        finally:
            self._tree_stopped.set()
        others = [pid for pid in signalled if pid != self.pid]
        if others:
            logger.warning(
                "stopped processes %s of the tree of %s pid %d%s",
                others,
                self._argv[0],
                self.pid,
                self._log_context,
            )
        if self.pid in signalled:
            logger.info("stopped %s pid %d%s", self._argv[0], self.pid, self._log_context)

        if reader.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(reader), timeout=_DRAIN_TIMEOUT)
        except TimeoutError:
            reader.cancel()
            logger.warning(
                "output pipe of %s pid %d still open %.0f s after its tree stopped; a process "
                "outside the tree holds it%s",
                self._argv[0],
                self.pid,
                _DRAIN_TIMEOUT,
                self._log_context,
            )
