"""Send a lease's progress and raw log to the controller, throttled and batched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from agent.lease_context import LeaseContext
from protos import agent_pb2, common_pb2

logger = logging.getLogger(__name__)

# Sends one message if the agent is connected; returns False when it was dropped.
SendMessage = Callable[[agent_pb2.AgentMessage], bool]

PROGRESS_INTERVAL = 0.25
LOG_INTERVAL = 0.5
LOG_BATCH_BYTES = 64 * 1024


class LeaseReporter:
    """Progress goes out at most every progress_interval seconds and only when it changed.
    Log bytes go out in LogChunk batches of up to log_batch_bytes, at least every
    log_interval seconds while the log grows. Every log byte is also appended to log_file.

    Messages are dropped while the agent is disconnected; the log file keeps the whole log.
    """

    def __init__(
        self,
        context: LeaseContext,
        send: SendMessage,
        *,
        log_file: Path | None = None,
        progress_interval: float = PROGRESS_INTERVAL,
        log_interval: float = LOG_INTERVAL,
        log_batch_bytes: int = LOG_BATCH_BYTES,
    ) -> None:
        self.context = context
        self._send = send
        self._log_file = log_file.open("ab") if log_file is not None else None
        self._progress_interval = progress_interval
        self._log_interval = log_interval
        self._log_batch_bytes = log_batch_bytes
        self._loop = asyncio.get_running_loop()

        self.stage: int = common_pb2.STAGE_UNSPECIFIED
        self._sent_progress: tuple[int, float, int, int] | None = None
        self._pending_progress: tuple[int, float, int, int] | None = None
        self._last_progress_at = float("-inf")
        self._progress_timer: asyncio.TimerHandle | None = None

        self._log_buffer = bytearray()
        self._log_offset = 0
        self._log_timer: asyncio.TimerHandle | None = None
        self.dropped_messages = 0

    def set_stage(self, stage: int) -> None:
        """Enter stage and send it at once, with unknown percent until progress arrives.

        Progress still waiting for its interval is sent first, so the last progress of a
        stage (frames done at the end of the render) always goes out.
        """
        self._flush_progress()
        self.stage = stage
        self._pending_progress = (stage, -1.0, 0, 0)
        self._flush_progress()

    def progress(self, percent: float | None, frames_done: int, frames_total: int | None) -> None:
        value = (self.stage, -1.0 if percent is None else percent, frames_done, frames_total or 0)
        if value == self._sent_progress:
            return
        self._pending_progress = value
        wait = self._last_progress_at + self._progress_interval - self._loop.time()
        if wait <= 0:
            self._flush_progress()
        elif self._progress_timer is None:
            self._progress_timer = self._loop.call_later(wait, self._flush_progress)

    def log(self, data: bytes) -> None:
        if not data:
            return
        if self._log_file is not None:
            self._log_file.write(data)
        self._log_buffer += data
        if len(self._log_buffer) >= self._log_batch_bytes:
            self._flush_log()
        elif self._log_timer is None:
            self._log_timer = self._loop.call_later(self._log_interval, self._flush_log)

    def close(self) -> None:
        """Send what is pending and close the log file."""
        self._flush_progress()
        self._flush_log()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.dropped_messages:
            logger.info(
                "lease %s: %d progress and log messages were dropped while disconnected",
                self.context.lease_id,
                self.dropped_messages,
            )

    @property
    def log_bytes(self) -> int:
        return self._log_offset + len(self._log_buffer)

    def _flush_progress(self) -> None:
        if self._progress_timer is not None:
            self._progress_timer.cancel()
            self._progress_timer = None
        if self._pending_progress is None:
            return
        stage, percent, frames_done, frames_total = self._pending_progress
        self._pending_progress = None
        self._sent_progress = (stage, percent, frames_done, frames_total)
        self._last_progress_at = self._loop.time()
        message = agent_pb2.Progress(
            lease_id=self.context.lease_id,
            job_id=self.context.job_id,
            attempt=self.context.attempt,
            stage=stage,  # type: ignore[arg-type]
            percent=percent,
            frames_done=frames_done,
            frames_total=frames_total,
        )
        self._deliver(agent_pb2.AgentMessage(progress=message))

    def _flush_log(self) -> None:
        if self._log_timer is not None:
            self._log_timer.cancel()
            self._log_timer = None
        if self._log_file is not None:
            self._log_file.flush()
        while self._log_buffer:
            data = bytes(self._log_buffer[: self._log_batch_bytes])
            del self._log_buffer[: len(data)]
            chunk = agent_pb2.LogChunk(
                lease_id=self.context.lease_id,
                job_id=self.context.job_id,
                attempt=self.context.attempt,
                offset=self._log_offset,
                data=data,
            )
            self._log_offset += len(data)
            self._deliver(agent_pb2.AgentMessage(log=chunk))

    def _deliver(self, message: agent_pb2.AgentMessage) -> None:
        if not self._send(message):
            self.dropped_messages += 1
