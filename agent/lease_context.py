"""The ids that name one render, and the logging support that puts them on every line.

A lease's task sets current_lease, and asyncio copies it into every task and thread the lease
starts (asyncio.to_thread included). LeaseContextFilter adds job_id, lease_id, attempt and
agent_id to each record logged inside that context, from any module, plus a lease_prefix
text for plain formats. Code outside the lease's task uses LeaseLogger to name the lease.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from protos import agent_pb2

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(lease_prefix)s%(message)s"
_FIELDS = ("job_id", "lease_id", "attempt", "agent_id")


@dataclass(frozen=True)
class LeaseContext:
    lease_id: str
    job_id: str
    attempt: int
    agent_id: str

    @classmethod
    def of(cls, lease: agent_pb2.Lease, agent_id: str) -> LeaseContext:
        return cls(lease.lease_id, lease.job_id, lease.attempt, agent_id)

    def running(self) -> agent_pb2.RunningLease:
        return agent_pb2.RunningLease(
            lease_id=self.lease_id, job_id=self.job_id, attempt=self.attempt
        )

    def fields(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "lease_id": self.lease_id,
            "attempt": self.attempt,
            "agent_id": self.agent_id,
        }


current_lease: contextvars.ContextVar[LeaseContext | None] = contextvars.ContextVar(
    "current_lease", default=None
)


class LeaseContextFilter(logging.Filter):
    """Adds the lease ids of the record's context, and a lease_prefix, to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "lease_id"):
            context = current_lease.get()
            if context is not None:
                for name, value in context.fields().items():
                    setattr(record, name, value)
        if hasattr(record, "lease_id"):
            values = [getattr(record, name, "") for name in _FIELDS]
            record.lease_prefix = "job={} lease={} attempt={} agent={}: ".format(*values)
        else:
            record.lease_prefix = ""
        return True


class LeaseLogger(logging.LoggerAdapter[logging.Logger]):
    """Logs with the fields of one lease, for code that runs outside the lease's context."""

    def __init__(self, logger: logging.Logger, context: LeaseContext) -> None:
        super().__init__(logger, context.fields())
        self.context = context

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**self.context.fields(), **kwargs.get("extra", {})}
        return msg, kwargs


def configure_logging(level: str) -> None:
    """Log to stderr in LOG_FORMAT, with lease ids on every line about a render."""
    handler = logging.StreamHandler()
    handler.addFilter(LeaseContextFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
