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
# Log bytes of one lease kept in its log file and sent; the controller keeps 8 MiB of them.
# Output past it (a script that prints in a loop, say) is dropped, so it cannot fill the disk.
MAX_LOG_BYTES = 16 * 1024 * 1024


class LeaseReporter:
    """Progress goes out at most every progress_interval seconds and only when it changed.
    Log bytes go out in LogChunk batches of up to log_batch_bytes, at least every
    log_interval seconds while the log grows. Every log byte is also appended to log_file.

    Messages are dropped while the agent is disconnected. The log file keeps the whole log,
    and the log bytes from the first dropped chunk on are read back from it and sent again
    with their offsets once a later message goes through; the controller drops the bytes it
    already has by offset.
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
        max_log_bytes: int = MAX_LOG_BYTES,
    ) -> None:
        self.context = context
        self._send = send
        self._log_path = log_file
        self._log_file = log_file.open("ab") if log_file is not None else None
        self._progress_interval = progress_interval
        self._log_interval = log_interval
        self._log_batch_bytes = log_batch_bytes
        self._max_log_bytes = max_log_bytes
        self._log_kept = 0
        self._loop = asyncio.get_running_loop()

        self.stage: int = common_pb2.STAGE_UNSPECIFIED
        self._sent_progress: tuple[int, float, int, int] | None = None
        self._pending_progress: tuple[int, float, int, int] | None = None
        self._last_progress_at = float("-inf")
        self._progress_timer: asyncio.TimerHandle | None = None

        self._log_buffer = bytearray()
        self._log_offset = 0
        self._log_timer: asyncio.TimerHandle | None = None
        # Offset of the first log byte the controller may lack, or None when it has them all.
        self._missing_from: int | None = None
        self.dropped_messages = 0

    def set_stage(self, stage: int) -> None:
        """Enter stage and send it at once, with unknown percent until progress arrives.

        Progress still waiting for its interval is sent first, so the last progress of a
        stage (frames done at the end of the render) always goes out. The frame counts carry
        over to later stages, so a finished job still shows the frames it rendered.
        """
        self._flush_progress()
        self.stage = stage
        frames_done, frames_total = 0, 0
        if self._sent_progress is not None:
            frames_done, frames_total = self._sent_progress[2], self._sent_progress[3]
        self._pending_progress = (stage, -1.0, frames_done, frames_total)
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
        if not data or self._log_kept >= self._max_log_bytes:
            return
        room = self._max_log_bytes - self._log_kept
        if len(data) >= room:
            data = (
                data[:room]
                + (
                    f"\n[aefarm: the log reached {self._max_log_bytes} bytes; later output of "
                    "this lease is not kept]\n"
                ).encode()
            )
            logger.warning(
                "lease %s: the aerender log reached %d bytes; later output is dropped",
                self.context.lease_id,
                self._max_log_bytes,
            )
        self._log_kept += len(data)
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
        if self._deliver(agent_pb2.AgentMessage(progress=message)):
            self._resend_missing()

    def _flush_log(self) -> None:
        if self._log_timer is not None:
            self._log_timer.cancel()
            self._log_timer = None
        if self._log_file is not None:
            self._log_file.flush()
        self._resend_missing()
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
            if not self._deliver(agent_pb2.AgentMessage(log=chunk)) and self._missing_from is None:
                self._missing_from = chunk.offset

    def _resend_missing(self) -> None:
        """Send the log bytes from the first dropped chunk up to the last sent offset again."""
        start = self._missing_from
        if start is None or self._log_path is None:
            return
        if self._log_file is not None:
            self._log_file.flush()
        try:
            with open(self._log_path, "rb") as file:
                file.seek(start)
                while start < self._log_offset:
                    data = file.read(min(self._log_batch_bytes, self._log_offset - start))
                    if not data:
                        break
                    chunk = agent_pb2.LogChunk(
                        lease_id=self.context.lease_id,
                        job_id=self.context.job_id,
                        attempt=self.context.attempt,
                        offset=start,
                        data=data,
                    )
                    if not self._deliver(agent_pb2.AgentMessage(log=chunk)):
                        self._missing_from = start
                        return
                    start += len(data)
        except OSError as error:
            logger.warning(
                "lease %s: cannot read %s to resend the log: %s",
                self.context.lease_id,
                self._log_path,
                error,
            )
            return
        logger.info(
            "lease %s: resent log bytes %d to %d after a disconnect",
            self.context.lease_id,
            self._missing_from,
            start,
        )
        self._missing_from = None

    def _deliver(self, message: agent_pb2.AgentMessage) -> bool:
        if self._send(message):
            return True
        self.dropped_messages += 1
        return False
