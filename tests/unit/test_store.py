"""The SQLite store on real files: round trips, restarts, transactions and paging."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from controller.jobspec.models import (
    DataAsset,
    FootageAsset,
    JobSpec,
    NestedJob,
    RenderSettings,
    TemplateRef,
)
from controller.jobtree import SubmittedTree, build_job_tree
from controller.scheduler_types import (
    AgentRecord,
    ChildInput,
    EngineInfo,
    JobErrorInfo,
    JobState,
    LeaseRecord,
    LeaseState,
    OutputInfo,
    Stage,
)
from controller.sqlite_store import SqliteStore
from controller.store import ArtifactRecord, InvalidPageToken


def spec(composition: str = "main", children: int = 0) -> JobSpec:
    return JobSpec(
        template=TemplateRef(src="https://cdn.example/t.aep", composition=composition),
        assets=[
            FootageAsset(type="image", src="https://cdn.example/logo.png", layer_name="Logo"),
            DataAsset(layer_name="Title", property=["Source Text"], value="Hello"),
        ],
        children=[
            NestedJob(
                layer_name=f"Slot {i}",
                job=JobSpec(template=TemplateRef(src="x.aep", composition=f"c{i}")),
            )
            for i in range(children)
        ],
        settings=RenderSettings(engine="ae2025", frame_start=0, frame_end=9),
        tags=["promo"],
        pools=["gpu"],
    )


def tree(job_spec: JobSpec, now: float = 100.0) -> SubmittedTree:
    counter = itertools.count(1)
    return build_job_tree(job_spec, now, lambda: f"{now:g}-{next(counter)}", source="test")


def store_tree(store: SqliteStore, submitted: SubmittedTree) -> None:
    with store.transaction(durable=True):
        for job in submitted.jobs:
            store.insert_job(job)
        for job_id, transition in submitted.transitions:
            store.insert_transition(job_id, transition)


def agent(agent_id: str = "render-1") -> AgentRecord:
    return AgentRecord(
        agent_id=agent_id,
        host="box.local",
        version="0.1.0",
        engines=(EngineInfo("ae2025", "25.6x101", "/opt/ae/aerender", True),),
        slots=2,
        pools=frozenset({"gpu"}),
        fonts=("Inter",),
        connected=True,
        connected_at=100.0,
        last_seen=150.0,
    )


def test_everything_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "aefarm.db"
    store = SqliteStore(path)
    submitted = tree(spec(children=2))
    parent, first, second = submitted.jobs
    store_tree(store, submitted)

    first.state = JobState.FINISHED
    first.attempts = 1
    first.outputs = [OutputInfo("artifact://ab/x.mp4", 10, "ab" * 32, "x.mp4")]
    second.state = JobState.RENDERING
    second.stage = Stage.RENDER
    second.attempts = 2
    second.lease_id = "lease-2"
    second.agent_id = "render-1"
    second.error = JobErrorInfo("fetch_failed", "timed out", retryable=True)
    parent.inputs = [ChildInput(0, "artifact://ab/x.mp4", "ab" * 32, "x.mp4", "Slot 0", "")]
    lease = LeaseRecord("lease-2", second.id, 2, "render-1", LeaseState.ACTIVE, 120.0, 130.0)
    with store.transaction():
        store.update_job(first)
        store.update_job(second)
        store.update_job(parent)
        store.set_sequence(second.id, 42)
        store.save_lease(lease)
        store.save_agent(agent())
        store.insert_applied_result("result-1", "lease-1", first.id, 125.0)
        store.insert_artifact(ArtifactRecord("ab" * 32, 10, "x.mp4", first.id, "lease-1", 124.0))
    store.close()

    reopened = SqliteStore(path)
    jobs, leases = reopened.load_unfinished()
    by_id = {job.id: job for job in jobs}
    assert set(by_id) == {parent.id, first.id, second.id}
    assert by_id[parent.id].child_ids == [first.id, second.id]
    assert by_id[parent.id].spec == parent.spec
    assert by_id[parent.id].inputs == parent.inputs
    assert by_id[first.id].outputs == first.outputs
    assert by_id[second.id].error == second.error
    assert (by_id[second.id].state, by_id[second.id].stage) == (JobState.RENDERING, Stage.RENDER)
    assert by_id[second.id].sequence == 42
    assert by_id[second.id].layer_name == "Slot 1"
    assert by_id[second.id].pools == ()
    assert by_id[parent.id].pools == ("gpu",)
    assert leases == [lease]
    assert reopened.load_agents() == [agent()]
    assert reopened.is_result_applied("result-1")
    assert not reopened.is_result_applied("result-2")
    artifact = reopened.get_artifact("ab" * 32)
    assert artifact is not None
    assert artifact.name == "x.mp4"
    assert reopened.max_sequence() == 42
    history = reopened.history(parent.id)
    assert [(t.state, t.cause) for t in history] == [
        (JobState.PENDING, "submitted from test; waiting for 2 child jobs")
    ]
    reopened.close()


def test_failed_nested_submit_stores_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    submitted = tree(spec(children=2))
    parent, first, _ = submitted.jobs
    with pytest.raises(sqlite3.IntegrityError), store.transaction(durable=True):
        store.insert_job(parent)
        store.insert_job(first)
        store.insert_job(first)
    assert store.get_job(parent.id) is None
    assert store.get_job(first.id) is None
    assert store.history(parent.id) == []

    store_tree(store, submitted)
    assert store.tree_ids(parent.id) == [job.id for job in submitted.jobs]


def test_write_outside_transaction_raises(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    with pytest.raises(RuntimeError, match=r"inside store\.transaction"):
        store.insert_job(tree(spec()).jobs[0])


def test_durable_commit_restores_normal_sync(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    store_tree(store, tree(spec()))
    database = sqlite3.connect(tmp_path / "aefarm.db")
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection: read it on the store's own connection.
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_finished_trees_not_loaded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    done = tree(spec(), now=100.0)
    open_tree = tree(spec(children=1), now=200.0)
    store_tree(store, done)
    store_tree(store, open_tree)
    done.jobs[0].state = JobState.FINISHED
    open_tree.jobs[1].state = JobState.FINISHED
    with store.transaction():
        store.update_job(done.jobs[0])
        store.update_job(open_tree.jobs[1])
    jobs, _ = store.load_unfinished()
    assert [job.id for job in jobs] == [job.id for job in open_tree.jobs]


def test_list_jobs_pages_newest_first(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    roots = []
    for second in range(5):
        submitted = tree(spec(children=1), now=100.0 + second)
        store_tree(store, submitted)
        roots.append(submitted.jobs[0].id)

    page = store.list_jobs([], roots_only=True, limit=2, page_token="")
    assert [job.id for job in page.jobs] == roots[::-1][:2]
    assert page.next_page_token
    seen = [job.id for job in page.jobs]
    while page.next_page_token:
        page = store.list_jobs([], True, 2, page.next_page_token)
        seen += [job.id for job in page.jobs]
    assert seen == roots[::-1]

    children = store.list_jobs([JobState.QUEUED], roots_only=False, limit=100, page_token="")
    assert len(children.jobs) == 5
    assert all(job.parent_id for job in children.jobs)
    assert children.next_page_token == ""


def test_list_jobs_rejects_foreign_token(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    with pytest.raises(InvalidPageToken, match="next_page_token"):
        store.list_jobs([], False, 10, "not-a-token")


def test_newer_schema_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "aefarm.db"
    SqliteStore(path).close()
    database = sqlite3.connect(path)
    database.execute("PRAGMA user_version=99")
    database.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        SqliteStore(path)
