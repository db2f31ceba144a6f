"""Artifact retention by age and by total size, sparing what unfinished jobs need."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from controller.artifacts import ArtifactStore, artifact_url
from controller.jobspec.models import JobSpec, RenderSettings, TemplateRef
from controller.jobtree import build_job_tree
from controller.retention import DAY_SECONDS, GIGABYTE, RetentionConfig, prune
from controller.scheduler_types import JobState, OutputInfo
from controller.sqlite_store import SqliteStore
from controller.store import ArtifactRecord

NOW = 100 * DAY_SECONDS


def stored(store: SqliteStore, artifacts: ArtifactStore, content: bytes, age_days: float) -> str:
    upload = artifacts.begin_upload()
    upload.write(content)
    sha256 = upload.finish().sha256
    record = ArtifactRecord(
        sha256, len(content), "r.mp4", "job0", "lease0", NOW - age_days * DAY_SECONDS
    )
    with store.transaction():
        store.insert_artifact(record)
    return sha256


def queued_job_with_output(store: SqliteStore, sha256: str) -> None:
    spec = JobSpec(
        template=TemplateRef(src="file:///t/a.aep", composition="main"), settings=RenderSettings()
    )
    job = build_job_tree(spec, NOW, lambda: "job1").jobs[0]
    job = dataclasses.replace(
        job,
        state=JobState.QUEUED,
        outputs=[OutputInfo(artifact_url(sha256, "r.mp4"), 1, sha256, "r.mp4")],
    )
    with store.transaction():
        store.insert_job(job)


def test_prune_by_age_spares_needed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    artifacts = ArtifactStore(tmp_path / "artifacts")
    old = stored(store, artifacts, b"old", age_days=40)
    needed = stored(store, artifacts, b"needed", age_days=50)
    fresh = stored(store, artifacts, b"fresh", age_days=1)
    queued_job_with_output(store, needed)

    removed = prune(store, artifacts, RetentionConfig(max_age_days=30), NOW)
    assert [entry.sha256 for entry in removed] == [old]
    assert not artifacts.exists(old)
    assert artifacts.exists(needed)
    assert artifacts.exists(fresh)
    assert store.get_artifact(old) is None
    assert hashlib.sha256(b"fresh").hexdigest() == fresh


def test_prune_by_size_removes_oldest(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    artifacts = ArtifactStore(tmp_path / "artifacts")
    first = stored(store, artifacts, b"a" * 400, age_days=3)
    second = stored(store, artifacts, b"b" * 400, age_days=2)
    third = stored(store, artifacts, b"c" * 400, age_days=1)
    removed = prune(store, artifacts, RetentionConfig(max_size_gb=900 / GIGABYTE), NOW)
    assert [entry.sha256 for entry in removed] == [first]
    assert artifacts.exists(second)
    assert artifacts.exists(third)
