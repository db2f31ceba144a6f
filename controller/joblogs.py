"""The raw aerender log of each attempt, in <data-dir>/logs/<job id>/<attempt>.log.

Agents send the log as LogChunk messages with the byte offset of each chunk in the attempt's
log. A chunk that was already stored (an agent resends after a reconnect) is dropped by its
offset. Each attempt keeps at most MAX_LOG_BYTES; past that the chunks are dropped and the log
is marked truncated by a <attempt>.truncated file beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

MAX_LOG_BYTES = 8 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024


class JobLogs:
    def __init__(self, root: Path, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        # The agent's next offset per (job id, attempt): the end of the last chunk taken.
        self._next_offsets: dict[tuple[str, int], int] = {}

    def path(self, job_id: str, attempt: int) -> Path:
        return self.root / job_id / f"{attempt}.log"

    def append(self, job_id: str, attempt: int, offset: int, data: bytes) -> int:
        """Store the part of a chunk that is new, up to the size cap.

        Return the number of bytes missing before the chunk, which is 0 unless a chunk was lost.
        """
        path = self.path(job_id, attempt)
        key = (job_id, attempt)
        if key not in self._next_offsets:
            # After a restart the file size is the next offset, unless chunks were lost.
            self._next_offsets[key] = path.stat().st_size if path.exists() else 0
        expected = self._next_offsets[key]
        end = offset + len(data)
        if end <= expected:
            return 0
        missing = max(offset - expected, 0)
        if offset < expected:
            data = data[expected - offset :]
        self._next_offsets[key] = end

        path.parent.mkdir(parents=True, exist_ok=True)
        stored = path.stat().st_size if path.exists() else 0
        room = self.max_bytes - stored
        if len(data) > room:
            data = data[: max(room, 0)]
            self._truncated_marker(job_id, attempt).touch()
        if data:
            with open(path, "ab") as file:
                file.write(data)
        return missing

    def is_truncated(self, job_id: str, attempt: int) -> bool:
        return self._truncated_marker(job_id, attempt).exists()

    def read(self, job_id: str, attempt: int) -> Iterator[bytes]:
        """Yield the stored log of one attempt; nothing when the attempt sent no log."""
        path = self.path(job_id, attempt)
        if not path.exists():
            return
        with open(path, "rb") as file:
            while chunk := file.read(READ_CHUNK_BYTES):
                yield chunk

    def _truncated_marker(self, job_id: str, attempt: int) -> Path:
        return self.root / job_id / f"{attempt}.truncated"
