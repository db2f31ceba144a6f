"""Leases the agent has started and not yet finished, kept on disk.

A lease is recorded when its render starts and forgotten when its Result is in the outbox.
Leases still recorded when the agent starts were cut off by a crash or a kill: the agent
names them in Hello.interrupted so the controller requeues their jobs at once instead of
waiting for the lease to expire.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

from google.protobuf.message import DecodeError

from agent.outbox import fsync_directory
from protos import agent_pb2

logger = logging.getLogger(__name__)

_LEASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class LeaseJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, lease_id: str) -> Path:
        if not _LEASE_ID.match(lease_id):
            raise ValueError(f"lease_id {lease_id!r} must be letters, digits, '_' or '-'")
        return self.directory / f"{lease_id}.pb"

    def record(self, lease: agent_pb2.RunningLease) -> None:
        path = self._path(lease.lease_id)
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            file.write(lease.SerializeToString())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        fsync_directory(self.directory)

    def forget(self, lease_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(lease_id).unlink()

    def recorded(self) -> list[agent_pb2.RunningLease]:
        leases = []
        for path in sorted(self.directory.glob("*.pb")):
            lease = agent_pb2.RunningLease()
            try:
                lease.ParseFromString(path.read_bytes())
            except (FileNotFoundError, DecodeError):
                logger.warning("lease journal file %s is unreadable: ignored", path)
                continue
            leases.append(lease)
        return leases
