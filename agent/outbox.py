"""The durable outbox of results.

Each Result is written to `<dir>/<result_id>.pb` before it is sent: written to a temporary
file, fsynced, renamed into place, and the folder fsynced, so a result survives a crash or a
power cut from the moment it is written. A result leaves the outbox only when the controller's
Ack for its result_id arrives, whether the controller accepted or rejected it. Pending results
are resent after every reconnect and after an agent restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from pathlib import Path

from google.protobuf.message import DecodeError

from protos import agent_pb2

logger = logging.getLogger(__name__)

SUFFIX = ".pb"
# result ids become file names, so only these characters are accepted.
_RESULT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, result_id: str) -> Path:
        if not _RESULT_ID.match(result_id):
            raise ValueError(
                f"result_id {result_id!r} must be 1 to 128 letters, digits, '_' or '-'"
            )
        return self.directory / f"{result_id}{SUFFIX}"

    def put(self, result: agent_pb2.Result) -> Path:
        """Store result durably; storing the same result_id again replaces it."""
        path = self._path(result.result_id)
        temporary = self.directory / f".{result.result_id}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with temporary.open("wb") as file:
                file.write(result.SerializeToString())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        fsync_directory(self.directory)
        return path

    def pending(self) -> list[agent_pb2.Result]:
        """Return the stored results, oldest first. Unreadable files are moved aside."""
        entries = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                entries.append((path.stat().st_mtime_ns, path.name, path))
        results = []
        for _, _, path in sorted(entries):
            result = agent_pb2.Result()
            try:
                result.ParseFromString(path.read_bytes())
            except FileNotFoundError:
                continue
            except DecodeError:
                aside = path.with_suffix(".corrupt")
                logger.error("outbox file %s is not a Result: moved to %s", path, aside)
                os.replace(path, aside)
                continue
            results.append(result)
        return results

    def get(self, result_id: str) -> agent_pb2.Result | None:
        result = agent_pb2.Result()
        try:
            result.ParseFromString(self._path(result_id).read_bytes())
        except (FileNotFoundError, DecodeError):
            return None
        return result

    def remove(self, result_id: str) -> bool:
        """Delete the result; return False when it was not in the outbox."""
        try:
            self._path(result_id).unlink()
        except FileNotFoundError:
            return False
        fsync_directory(self.directory)
        return True


def fsync_directory(directory: Path) -> None:
    """Sync a folder, so a file renamed into it survives a power cut."""
    # Windows cannot open a folder for fsync; NTFS orders the rename itself.
    if os.name == "nt":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
