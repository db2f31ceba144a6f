"""The SQLite store: one database file in WAL mode at <data-dir>/aefarm.db.

WAL with synchronous=NORMAL keeps every committed transaction through a crash of the process; a
power loss can drop the last commits. transaction(durable=True) switches that one commit to
synchronous=FULL, which syncs the WAL before the commit returns. sync() instead makes every
commit so far durable with one fsync of the WAL file, from any thread, so the controller can
group many commits under one sync (controller/durability.py).

Lease renewals by heartbeats are kept in memory only: after a restart every active lease gets a
whole lease grace anyway, so writing each renewal would buy nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from controller.scheduler_types import (
    AgentRecord,
    JobRecord,
    JobState,
    LeaseRecord,
    LeaseState,
    Stage,
    Transition,
)
from controller.sqlite_schema import (
    AGENT_CONTROLS_TABLE,
    MIGRATIONS,
    MUTABLE_JOB_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    UNFINISHED_STATES,
    agent_record,
    decode_page_token,
    encode_page_token,
    job_record,
    job_row,
    lease_record,
    mutable_job_values,
)
from controller.store import ArtifactRecord, JobPage

logger = logging.getLogger(__name__)

_UPDATE_JOB = (
    f"UPDATE jobs SET {', '.join(f'{column} = ?' for column in MUTABLE_JOB_COLUMNS)} WHERE id = ?"
)

# Seconds a connection waits for another writer's lock before it raises.
BUSY_TIMEOUT_SECONDS = 10.0


class SqliteStore:
    """The Store protocol on one SQLite database; use it from one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
        self._db.row_factory = sqlite3.Row
        self._in_transaction = False
        self._deferred_open = False
        # Called after commit_deferred() commits; the coordinator releases what waited for it.
        self.on_deferred_commit: Callable[[Exception | None], None] = lambda error: None
        self._sync_lock = threading.Lock()
        self._sync_fd: int | None = None
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        self._wal = mode == "wal"
        if mode != "wal":
            logger.warning(
                "%s runs in journal mode %s, not WAL: its file system lacks WAL support", path, mode
            )
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        # Added after schema version 1 without a version change: older stores gain it here.
        self._db.execute(AGENT_CONTROLS_TABLE)

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {version}, but this controller reads version "
                f"{SCHEMA_VERSION}; run a controller of the version that wrote it"
            )
        with self.transaction(durable=True):
            scripts = [SCHEMA] if version == 0 else []
            scripts += [
                MIGRATIONS[number] for number in range(max(version, 1) + 1, SCHEMA_VERSION + 1)
            ]
            for script in scripts:
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        logger.info(
            "migrated the store schema from version %d to %d in %s",
            version,
            SCHEMA_VERSION,
            self.path,
        )

    @contextmanager
    def transaction(self, durable: bool = False, deferred: bool = False) -> Iterator[None]:
        if self._in_transaction:
            raise RuntimeError("store transactions do not nest")
        if deferred:
            with self._deferred_part():
                yield
            return
        self.commit_deferred()
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._in_transaction = False
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def _deferred_part(self) -> Iterator[None]:
        """Run writes as one savepoint of the open deferred transaction, opening it if needed.

        An exception rolls back this part only; commit_deferred() commits every part at once.
        """
        if not self._deferred_open:
            self._db.execute("BEGIN IMMEDIATE")
            self._deferred_open = True
        self._db.execute("SAVEPOINT part")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO part")
            self._db.execute("RELEASE part")
            raise
        else:
            self._db.execute("RELEASE part")
        finally:
            self._in_transaction = False

    def commit_deferred(self) -> bool:
        """Commit the open deferred transaction, if any; return whether there was one.

        Every other transaction calls this first, so deferred writes always commit before
        later ones. on_deferred_commit runs after the commit, with the error if it failed.
        """
        if not self._deferred_open:
            return False
        self._deferred_open = False
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            self.on_deferred_commit(error)
            raise
        self.on_deferred_commit(None)
        return True

    def sync(self) -> None:
        """Make every committed transaction survive a power loss; safe from any thread.

        In WAL mode a commit has written its frames to the WAL file, so one fsync of that file
        has the effect synchronous=FULL would have had on each commit. Raises OSError.
        """
        with self._sync_lock:
            if self._sync_fd is None:
                target = self.path.with_name(self.path.name + "-wal") if self._wal else self.path
                # The WAL file exists from the first commit on and stays while the store is open.
                self._sync_fd = os.open(target, os.O_RDWR)
            os.fsync(self._sync_fd)

    def _write(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        if not self._in_transaction:
            raise RuntimeError("store writes must run inside store.transaction()")
        self._db.execute(sql, parameters)

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run one write of a module that keeps its own tables; return the last row id."""
        if not self._in_transaction:
            raise RuntimeError("store writes must run inside store.transaction()")
        return self._db.execute(sql, parameters).lastrowid or 0

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one read of a module that keeps its own tables."""
        return self._db.execute(sql, parameters).fetchall()

    # Writes.

    def insert_job(self, job: JobRecord) -> None:
        row = job_row(job)
        placeholders = ", ".join("?" for _ in row)
        self._write(
            f"INSERT INTO jobs ({', '.join(row)}) VALUES ({placeholders})", list(row.values())
        )

    def update_job(self, job: JobRecord) -> None:
        self._write(_UPDATE_JOB, [*mutable_job_values(job), job.id])

    def update_progress(self, job: JobRecord) -> None:
        self._write(
            "UPDATE jobs SET stage = ?, progress = ?, frames_done = ?, frames_total = ?, "
            "updated_at = ? WHERE id = ?",
            (
                job.stage.value,
                job.progress,
                job.frames_done,
                job.frames_total,
                job.updated_at,
                job.id,
            ),
        )

    def set_sequence(self, job_id: str, sequence: int) -> None:
        self._write("UPDATE jobs SET sequence = ? WHERE id = ?", (sequence, job_id))

    def insert_transition(self, job_id: str, transition: Transition) -> None:
        self._write(
            "INSERT INTO transitions (job_id, state, stage, at, cause, attempt, agent_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                transition.state.value,
                transition.stage.value,
                transition.at,
                transition.cause,
                transition.attempt,
                transition.agent_id,
            ),
        )

    def save_lease(self, lease: LeaseRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO leases (lease_id, job_id, attempt, agent_id, state, "
            "granted_at, renewed_at, ended_at, result_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                lease.lease_id,
                lease.job_id,
                lease.attempt,
                lease.agent_id,
                lease.state.value,
                lease.granted_at,
                lease.renewed_at,
                lease.ended_at,
                lease.result_id,
            ),
        )

    def save_agent(self, agent: AgentRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO agents (agent_id, host, version, engines_json, slots, "
            "pools_json, fonts_json, connected, connected_at, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                agent.agent_id,
                agent.host,
                agent.version,
                json.dumps([asdict(engine) for engine in agent.engines]),
                agent.slots,
                json.dumps(sorted(agent.pools)),
                json.dumps(list(agent.fonts)),
                int(agent.connected),
                agent.connected_at,
                agent.last_seen,
            ),
        )

    def save_agent_control(self, agent_id: str, draining: bool, quarantine_reason: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO agent_controls (agent_id, draining, quarantine_reason) "
            "VALUES (?, ?, ?)",
            (agent_id, int(draining), quarantine_reason),
        )

    def load_agent_controls(self) -> dict[str, tuple[bool, str]]:
        rows = self._db.execute("SELECT * FROM agent_controls").fetchall()
        return {row["agent_id"]: (bool(row["draining"]), row["quarantine_reason"]) for row in rows}

    def insert_applied_result(self, result_id: str, lease_id: str, job_id: str, at: float) -> None:
        self._write(
            "INSERT INTO applied_results (result_id, lease_id, job_id, applied_at) "
            "VALUES (?, ?, ?, ?)",
            (result_id, lease_id, job_id, at),
        )

    def insert_artifact(self, artifact: ArtifactRecord) -> None:
        self._write(
            "INSERT OR IGNORE INTO artifacts (sha256, name, size, job_id, lease_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                artifact.sha256,
                artifact.name,
                artifact.size,
                artifact.job_id,
                artifact.lease_id,
                artifact.created_at,
            ),
        )

    # Reads.

    def get_job(self, job_id: str) -> JobRecord | None:
        jobs = self.get_jobs([job_id])
        return jobs[0] if jobs else None

    def get_jobs(self, job_ids: Iterable[str]) -> list[JobRecord]:
        ids = list(job_ids)
        if not ids:
            return []
        placeholders = ", ".join("?" for _ in ids)
        rows = self._db.execute(f"SELECT * FROM jobs WHERE id IN ({placeholders})", ids)
        found = {job.id: job for job in self._with_children([job_record(row) for row in rows])}
        return [found[job_id] for job_id in ids if job_id in found]

    def history(self, job_id: str) -> list[Transition]:
        rows = self._db.execute(
            "SELECT * FROM transitions WHERE job_id = ? ORDER BY id", (job_id,)
        ).fetchall()
        return [
            Transition(
                JobState(row["state"]),
                Stage(row["stage"]),
                row["at"],
                row["cause"],
                row["attempt"],
                row["agent_id"],
            )
            for row in rows
        ]

    def tree_ids(self, job_id: str) -> list[str]:
        root = self._db.execute("SELECT root_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if root is None:
            return []
        rows = self._db.execute(
            "SELECT id, parent_id FROM jobs WHERE root_id = ? ORDER BY input_index, id",
            (root["root_id"],),
        ).fetchall()
        children: dict[str | None, list[str]] = {}
        for row in rows:
            children.setdefault(row["parent_id"], []).append(row["id"])
        found: list[str] = []
        stack = [job_id]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(reversed(children.get(current, [])))
        return found

    def list_jobs(
        self, states: Sequence[JobState], roots_only: bool, limit: int, page_token: str
    ) -> JobPage:
        conditions: list[str] = []
        parameters: list[Any] = []
        if states:
            conditions.append(f"state IN ({', '.join('?' for _ in states)})")
            parameters.extend(state.value for state in states)
        if roots_only:
            conditions.append("parent_id IS NULL")
        if page_token:
            created_at, job_id = decode_page_token(page_token)
            conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
            parameters.extend((created_at, created_at, job_id))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._db.execute(
            f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*parameters, limit + 1],
        ).fetchall()
        jobs = self._with_children([job_record(row) for row in rows[:limit]])
        token = ""
        if len(rows) > limit:
            token = encode_page_token(jobs[-1].created_at, jobs[-1].id)
        return JobPage(jobs, token)

    def is_result_applied(self, result_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM applied_results WHERE result_id = ?", (result_id,)
        ).fetchone()
        return row is not None

    def get_artifact(self, sha256: str) -> ArtifactRecord | None:
        row = self._db.execute(
            "SELECT * FROM artifacts WHERE sha256 = ? ORDER BY created_at LIMIT 1", (sha256,)
        ).fetchone()
        if row is None:
            return None
        return ArtifactRecord(
            sha256=row["sha256"],
            size=row["size"],
            name=row["name"],
            job_id=row["job_id"],
            lease_id=row["lease_id"],
            created_at=row["created_at"],
        )

    def load_unfinished(self) -> tuple[list[JobRecord], list[LeaseRecord]]:
        placeholders = ", ".join("?" for _ in UNFINISHED_STATES)
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE root_id IN "
            f"(SELECT root_id FROM jobs WHERE state IN ({placeholders})) ORDER BY created_at, id",
            UNFINISHED_STATES,
        ).fetchall()
        jobs = self._with_children([job_record(row) for row in rows])
        lease_rows = self._db.execute(
            "SELECT * FROM leases WHERE state = ?", (LeaseState.ACTIVE.value,)
        ).fetchall()
        return jobs, [lease_record(row) for row in lease_rows]

    def load_agents(self) -> list[AgentRecord]:
        rows = self._db.execute("SELECT * FROM agents ORDER BY agent_id").fetchall()
        return [agent_record(row) for row in rows]

    def max_sequence(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(sequence), 0) FROM jobs").fetchone()[0])

    def close(self) -> None:
        self.commit_deferred()
        self._db.close()
        with self._sync_lock:
            if self._sync_fd is not None:
                os.close(self._sync_fd)
                self._sync_fd = None

    def _with_children(self, jobs: list[JobRecord]) -> list[JobRecord]:
        if not jobs:
            return jobs
        by_id = {job.id: job for job in jobs}
        placeholders = ", ".join("?" for _ in by_id)
        rows = self._db.execute(
            f"SELECT id, parent_id FROM jobs WHERE parent_id IN ({placeholders}) "
            "ORDER BY input_index, id",
            list(by_id),
        )
        for row in rows:
            by_id[row["parent_id"]].child_ids.append(row["id"])
        return jobs
