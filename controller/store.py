"""The store interface: durable jobs, transitions, leases, agents, results and artifacts.

SQLite (controller/sqlite_store.py) is the only backend. A PostgreSQL backend implements the
same Protocol. Every write runs inside transaction(); a write outside one raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from controller.scheduler_types import AgentRecord, JobRecord, JobState, LeaseRecord, Transition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArtifactRecord:
    sha256: str
    size: int
    name: str
    job_id: str
    lease_id: str
    created_at: float


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobRecord]
    # Empty on the last page.
    next_page_token: str


class InvalidPageToken(ValueError):
    pass


class Store(Protocol):
    # Called after commit_deferred() commits, with the error when the commit failed.
    on_deferred_commit: Callable[[Exception | None], None]

    def transaction(
        self, durable: bool = False, deferred: bool = False
    ) -> AbstractContextManager[None]:
        """Open a transaction that commits on exit and rolls back on an exception.

        durable=True makes the commit survive power loss, not only a crash of the process.
        The controller requests it before it reports a change outside (a CancelJob response,
        a SetPriority response) when it does not wait for sync() instead.

        deferred=True makes the writes one part of a transaction that stays open until
        commit_deferred() or the next transaction that is not deferred: many events then
        share one commit. An exception rolls back only its own part.
        """
        ...

    def commit_deferred(self) -> bool:
        """Commit the open deferred transaction; return False when none was open."""
        ...

    def sync(self) -> None:
        """Make every commit so far survive power loss; callable from any thread."""
        ...

    # Writes.

    def insert_job(self, job: JobRecord) -> None: ...

    def update_job(self, job: JobRecord) -> None:
        """Write every mutable column of the job."""
        ...

    def update_progress(self, job: JobRecord) -> None:
        """Write the stage, progress, frame counts and updated_at of the job."""
        ...

    def set_sequence(self, job_id: str, sequence: int) -> None: ...

    def insert_transition(self, job_id: str, transition: Transition) -> None: ...

    def save_lease(self, lease: LeaseRecord) -> None: ...

    def save_agent(self, agent: AgentRecord) -> None: ...

    def save_agent_control(self, agent_id: str, draining: bool, quarantine_reason: str) -> None:
        """Store an agent's drain flag and quarantine reason (empty: not quarantined)."""
        ...

    def load_agent_controls(self) -> dict[str, tuple[bool, str]]:
        """Return (draining, quarantine reason) by agent id."""
        ...

    def insert_applied_result(
        self, result_id: str, lease_id: str, job_id: str, at: float
    ) -> None: ...

    def insert_artifact(self, artifact: ArtifactRecord) -> None:
        """Record a stored file under a name; a second upload of the same name is ignored."""
        ...

    # Reads.

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def get_jobs(self, job_ids: Iterable[str]) -> list[JobRecord]: ...

    def history(self, job_id: str) -> list[Transition]: ...

    def tree_ids(self, job_id: str) -> list[str]:
        """Return job_id and the ids of all its descendants, depth first."""
        ...

    def list_jobs(
        self, states: Sequence[JobState], roots_only: bool, limit: int, page_token: str
    ) -> JobPage:
        """Return jobs newest first; raise InvalidPageToken for a token it did not issue."""
        ...

    def is_result_applied(self, result_id: str) -> bool: ...

    def get_artifact(self, sha256: str) -> ArtifactRecord | None: ...

    def load_unfinished(self) -> tuple[list[JobRecord], list[LeaseRecord]]:
        """Return every job of each tree that has an unfinished job, and the active leases."""
        ...

    def load_agents(self) -> list[AgentRecord]: ...

    def max_sequence(self) -> int: ...

    def close(self) -> None: ...
