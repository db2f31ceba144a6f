"""`aefarm artifacts prune` against a real controller: what it removes, spares and reports."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from protos import artifacts_pb2, artifacts_pb2_grpc, common_pb2
from tests.e2e.farm import TOP, Farm

pytestmark = pytest.mark.e2e


@pytest.fixture()
def farm(tmp_path: Path) -> Iterator[Farm]:
    # No agents: a submitted job stays queued, so its tree is unfinished.
    farm = Farm(tmp_path / "farm")
    try:
        farm.start_controller()
        yield farm
    finally:
        farm.stop()


def upload(farm: Farm, name: str, content: bytes) -> str:
    stub = artifacts_pb2_grpc.ArtifactServiceStub(farm.channel)
    header = artifacts_pb2.UploadHeader(name=name, size=len(content))
    chunks = [artifacts_pb2.UploadChunk(header=header), artifacts_pb2.UploadChunk(data=content)]
    ref = stub.Upload(iter(chunks), timeout=10)
    assert ref.sha256 == hashlib.sha256(content).hexdigest()
    return str(ref.sha256)


def stored(farm: Farm, sha256: str) -> bool:
    stub = artifacts_pb2_grpc.ArtifactServiceStub(farm.channel)
    try:
        stub.Stat(artifacts_pb2.StatRequest(sha256=sha256), timeout=10)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
        return False
    return True


def prune(farm: Farm, *flags: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "controller.cli.main", "artifacts", "prune"]
    argv += ["--controller", farm.address, *flags]
    return subprocess.run(argv, capture_output=True, text=True, cwd=TOP, timeout=60)


def test_prune_spares_unfinished_tree(farm: Farm) -> None:
    old = upload(farm, "old.mp4", b"an old render")
    needed = upload(farm, "needed.aep", b"a template a queued job reads")
    job = {"template": {"src": f"artifact://{needed}/needed.aep", "composition": "main"}}
    job_id = farm.submit(job).job.id
    assert farm.get(job_id).state == common_pb2.JOB_STATE_QUEUED

    dry = prune(farm, "--older-than", "0", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove {old} old.mp4 (13 bytes" in dry.stdout
    assert needed not in dry.stdout
    assert stored(farm, old)

    done = prune(farm, "--older-than", "0", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dry_run"] is False
    assert [entry["sha256"] for entry in report["removed"]] == [old]
    assert report["removed"][0]["names"] == ["old.mp4"]
    assert report["bytes_freed"] == 13
    assert not stored(farm, old)
    assert stored(farm, needed)


def test_prune_by_size_prints_removed(farm: Farm) -> None:
    first = upload(farm, "first.mov", b"x" * 1000)
    second = upload(farm, "second.mov", b"y" * 1000)
    done = prune(farm, "--max-size", f"{1500 / 1024**3}")
    assert done.returncode == 0, done.stderr
    assert f"removed {first} first.mov (1000 bytes" in done.stdout
    assert "removed 1 files, 1000 bytes" in done.stdout
    assert not stored(farm, first)
    assert stored(farm, second)


def test_prune_without_limit_rejected(farm: Farm) -> None:
    done = prune(farm)
    assert done.returncode == 2
    assert "--older-than" in done.stderr
