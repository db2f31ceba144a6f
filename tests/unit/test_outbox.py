"""The result outbox and the lease journal survive restarts and empty on acknowledgement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.lease_journal import LeaseJournal
from agent.outbox import Outbox
from protos import agent_pb2, common_pb2


def result(result_id: str, lease_id: str = "lease1", success: bool = True) -> agent_pb2.Result:
    return agent_pb2.Result(
        result_id=result_id,
        lease_id=lease_id,
        job_id="job1",
        attempt=2,
        success=success,
        outputs=[common_pb2.Output(url="artifact://abc/result.mp4", size=3, sha256="abc")],
    )


def test_put_then_pending_after_restart(tmp_path: Path) -> None:
    Outbox(tmp_path / "outbox").put(result("r1"))
    Outbox(tmp_path / "outbox").put(result("r2", lease_id="lease2"))
    reopened = Outbox(tmp_path / "outbox")
    pending = reopened.pending()
    assert [r.result_id for r in pending] == ["r1", "r2"]
    assert pending[0] == result("r1")
    assert reopened.get("r2") == result("r2", lease_id="lease2")


def test_remove_on_ack(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(result("r1"))
    outbox.put(result("r2"))
    assert outbox.remove("r1")
    assert not outbox.remove("r1")
    assert [r.result_id for r in Outbox(tmp_path / "outbox").pending()] == ["r2"]
    assert outbox.get("r1") is None


def test_put_replaces_same_id(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(result("r1", success=False))
    outbox.put(result("r1", success=True))
    pending = outbox.pending()
    assert len(pending) == 1
    assert pending[0].success


def test_oldest_first(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(result("zzz"))
    outbox.put(result("aaa"))
    os.utime(tmp_path / "outbox" / "zzz.pb", ns=(1_000_000_000, 1_000_000_000))
    assert [r.result_id for r in outbox.pending()] == ["zzz", "aaa"]


def test_no_temporary_files_left(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(result("r1"))
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["r1.pb"]


def test_corrupt_file_moved_aside(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(result("r1"))
    (tmp_path / "outbox" / "bad.pb").write_bytes(b"\xff\xff\xff not protobuf")
    assert [r.result_id for r in outbox.pending()] == ["r1"]
    assert (tmp_path / "outbox" / "bad.corrupt").exists()


@pytest.mark.parametrize("result_id", ["", "../escape", "a/b", "x" * 129])
def test_unsafe_result_ids_rejected(tmp_path: Path, result_id: str) -> None:
    with pytest.raises(ValueError, match="result_id"):
        Outbox(tmp_path / "outbox").put(result(result_id))


def test_journal_lists_unfinished_leases(tmp_path: Path) -> None:
    journal = LeaseJournal(tmp_path / "running")
    journal.record(agent_pb2.RunningLease(lease_id="l1", job_id="j1", attempt=1))
    journal.record(agent_pb2.RunningLease(lease_id="l2", job_id="j2", attempt=3))
    journal.forget("l1")
    journal.forget("never-recorded")
    recorded = LeaseJournal(tmp_path / "running").recorded()
    assert recorded == [agent_pb2.RunningLease(lease_id="l2", job_id="j2", attempt=3)]
