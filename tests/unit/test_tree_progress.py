"""The tree progress of WatchJob."""

from __future__ import annotations

from controller.services.watch import TreeProgress
from protos import common_pb2, jobs_pb2

RENDERING = common_pb2.JOB_STATE_RENDERING


def job(job_id: str, progress: float, stage: int = common_pb2.STAGE_RENDER) -> jobs_pb2.Job:
    return jobs_pb2.Job(id=job_id, state=RENDERING, stage=stage, progress=progress)


def test_tree_progress_keeps_last_value() -> None:
    tree = TreeProgress([job("parent", 0.0), job("a", 100.0), job("b", 100.0)])
    before = tree.value()
    tree.update(job("b", -1.0, common_pb2.STAGE_UPLOAD))
    assert tree.value() == before


def test_tree_progress_upload_counts_done() -> None:
    tree = TreeProgress([job("a", -1.0, common_pb2.STAGE_UPLOAD), job("b", 50.0)])
    assert tree.value() == 75.0


def test_tree_progress_unknown_counts_zero() -> None:
    tree = TreeProgress([job("a", -1.0, common_pb2.STAGE_DOWNLOAD), job("b", 50.0)])
    assert tree.value() == 25.0
