"""The coordinator over a real SQLite store: nothing is lost when the controller restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.coordinator import Coordinator
from controller.errors import StoreFailure
from controller.events import JobEventBus
from controller.joblogs import JobLogs
from controller.jobspec.models import JobSpec, NestedJob, TemplateRef
from controller.scheduler_types import (
    AgentConnected,
    AgentRecord,
    EngineInfo,
    JobRecord,
    JobState,
    LeaseState,
    SchedulerConfig,
    Tick,
)
from controller.sqlite_store import SqliteStore

LEASE_GRACE = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spec(children: int = 0) -> JobSpec:
    template = TemplateRef(src="https://cdn.example/t.aep", composition="main")
    nested = [
        NestedJob(layer_name=f"Slot {i}", job=JobSpec(template=template)) for i in range(children)
    ]
    return JobSpec(template=template, children=nested)


def coordinator(data_dir: Path, clock: Clock, store: SqliteStore | None = None) -> Coordinator:
    result = Coordinator(
        store or SqliteStore(data_dir / "aefarm.db"),
        JobLogs(data_dir / "logs"),
        JobEventBus(),
        SchedulerConfig(heartbeat_interval=5.0, lease_grace=LEASE_GRACE, max_attempts=3),
        "test",
        clock,
    )
    result.start()
    return result


def agent(clock: Clock) -> AgentRecord:
    engines = (EngineInfo("ae2026", "26.0x55", "/opt/ae/aerender", True),)
    return AgentRecord(
        "render-1", "box", "0.1", engines, 1, frozenset(), (), True, clock.now, clock.now
    )


def test_restart_keeps_jobs_and_leases(tmp_path: Path) -> None:
    clock = Clock()
    first = coordinator(tmp_path, clock)
    parent, child = first.submit(spec(children=1), source="test")
    first.handle(AgentConnected(agent(clock)))
    lease_id = first.scheduler.jobs[child.id].lease_id
    assert lease_id is not None
    first.store.close()

    # The controller was down for longer than the lease grace.
    clock.now += 5 * LEASE_GRACE
    second = coordinator(tmp_path, clock)
    restored = second.scheduler.jobs
    assert restored[parent.id].state is JobState.PENDING
    assert restored[child.id].state is JobState.LEASED
    assert restored[child.id].lease_id == lease_id
    assert not second.scheduler.agents["render-1"].connected
    lease = second.scheduler.leases[lease_id]
    assert lease.state is LeaseState.ACTIVE
    # The agent gets a whole grace after the restart to reconnect and re-adopt.
    assert lease.renewed_at == clock.now

    clock.now += LEASE_GRACE + 1
    second.handle(Tick())
    stored = second.store.get_job(child.id)
    assert stored is not None
    assert stored.state is JobState.QUEUED
    assert "lease expired" in second.store.history(child.id)[-1].cause


def test_failed_submit_leaves_nothing(tmp_path: Path) -> None:
    class FailingStore(SqliteStore):
        """Fails the third job insert, as a full disk would."""

        inserts = 0

        def insert_job(self, job: JobRecord) -> None:
            self.inserts += 1
            if self.inserts == 3:
                raise sqlite3.OperationalError("database or disk is full")
            super().insert_job(job)

    clock = Clock()
    store = FailingStore(tmp_path / "aefarm.db")
    farm = coordinator(tmp_path, clock, store)
    with pytest.raises(StoreFailure, match="disk is full"):
        farm.submit(spec(children=3), source="test")
    assert store.list_jobs([], False, 100, "").jobs == []
    assert farm.scheduler.jobs == {}


def test_log_chunks_dedupe_and_cap(tmp_path: Path) -> None:
    logs = JobLogs(tmp_path / "logs", max_bytes=10)
    logs.append("job-1", 1, 0, b"abcd")
    logs.append("job-1", 1, 0, b"abcd")
    logs.append("job-1", 1, 2, b"cdef")
    assert b"".join(logs.read("job-1", 1)) == b"abcdef"
    assert not logs.is_truncated("job-1", 1)
    logs.append("job-1", 1, 6, b"ghijklmn")
    assert b"".join(logs.read("job-1", 1)) == b"abcdefghij"
    assert logs.is_truncated("job-1", 1)

    # A new JobLogs, as after a restart, takes the file size as the next offset.
    again = JobLogs(tmp_path / "logs")
    again.append("job-1", 2, 0, b"first")
    again = JobLogs(tmp_path / "logs")
    again.append("job-1", 2, 0, b"first")
    again.append("job-1", 2, 5, b" second")
    assert b"".join(again.read("job-1", 2)) == b"first second"


def test_welcome_then_lease_with_task(tmp_path: Path) -> None:
    clock = Clock()
    farm = coordinator(tmp_path, clock)
    (job,) = farm.submit(spec(), source="test")
    connection = farm.attach("render-1")
    farm.handle(AgentConnected(agent(clock)))

    welcome = connection.outbox.get_nowait()
    assert welcome is not None
    assert welcome.WhichOneof("body") == "welcome"
    assert welcome.welcome.heartbeat_interval_ms == 5000
    assert welcome.welcome.lease_grace_ms == 30000
    lease = connection.outbox.get_nowait()
    assert lease is not None
    assert lease.WhichOneof("body") == "lease"
    assert (lease.lease.job_id, lease.lease.attempt) == (job.id, 1)
    assert lease.lease.task.template_src == "https://cdn.example/t.aep"
    assert lease.lease.task.settings.engine == "ae2026"
    stored = farm.store.get_job(job.id)
    assert stored is not None
    assert stored.lease_id == lease.lease.lease_id
