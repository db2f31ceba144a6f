"""The read commands (output, job, jobs, cancel, logs, agents) against a scripted controller.

The scripted controller of test_cli_scripted serves artifacts whose bytes do not match their
sha256, downloads that break, and job lists in pages of two.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_scripted import (
    Scripted,
    finished,
    job,
    output_of,
    rendering,
    run_cli,
    scripted_controller,
    sha256_of,
)

from protos import agent_pb2, common_pb2, jobs_pb2


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    with scripted_controller() as service:
        yield service


def test_output_downloads_main_output_last(scripted: Scripted, tmp_path: Path) -> None:
    main_data = b"main video bytes"
    thumb_data = b"thumbnail"
    outputs = [output_of("final.mp4", main_data), output_of("thumb.png", thumb_data)]
    scripted.jobs.jobs["root1"] = finished(job("root1", common_pb2.JOB_STATE_QUEUED), outputs)
    scripted.artifacts.blobs = {sha256_of(main_data): main_data, sha256_of(thumb_data): thumb_data}
    out_dir = tmp_path / "out"

    result = run_cli("--controller", scripted.address, "output", "root1", "-o", str(out_dir))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(out_dir / "thumb.png"), str(out_dir / "final.mp4")]
    assert (out_dir / "final.mp4").read_bytes() == main_data
    assert (out_dir / "thumb.png").read_bytes() == thumb_data
    assert sorted(path.name for path in out_dir.iterdir()) == ["final.mp4", "thumb.png"]


def test_output_resumes_broken_download(scripted: Scripted, tmp_path: Path) -> None:
    data = b"0123456789abcdef"
    scripted.jobs.jobs["root1"] = finished(
        job("root1", common_pb2.JOB_STATE_QUEUED), [output_of("final.mp4", data)]
    )
    scripted.artifacts.blobs = {sha256_of(data): data}
    scripted.artifacts.breaks_left = 1

    result = run_cli("--controller", scripted.address, "output", "root1", "-o", str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert scripted.artifacts.offsets == [0, 4]
    assert (tmp_path / "final.mp4").read_bytes() == data


def test_output_sha256_mismatch_removes_file(scripted: Scripted, tmp_path: Path) -> None:
    listed = output_of("final.mp4", b"the bytes the agent uploaded")
    scripted.jobs.jobs["root1"] = finished(job("root1", common_pb2.JOB_STATE_QUEUED), [listed])
    scripted.artifacts.blobs = {listed.sha256: b"other bytes"}
    out_dir = tmp_path / "out"

    result = run_cli("--controller", scripted.address, "output", "root1", "-o", str(out_dir))

    assert result.returncode == 1
    assert "final.mp4 of job root1 is corrupt" in result.stderr
    assert "partial file was removed" in result.stderr
    assert list(out_dir.iterdir()) == []


def test_output_json_lists_paths(scripted: Scripted, tmp_path: Path) -> None:
    data = b"video"
    scripted.jobs.jobs["root1"] = finished(
        job("root1", common_pb2.JOB_STATE_QUEUED), [output_of("final.mp4", data)]
    )
    scripted.artifacts.blobs = {sha256_of(data): data}

    result = run_cli(
        "--controller", scripted.address, "output", "root1", "-o", str(tmp_path), "--json"
    )
    listed = json.loads(result.stdout)

    assert result.returncode == 0, result.stderr
    assert listed[0]["path"] == str(tmp_path / "final.mp4")
    assert listed[0]["main"] is True
    assert listed[0]["sha256"] == sha256_of(data)


def test_output_of_unfinished_job(scripted: Scripted, tmp_path: Path) -> None:
    scripted.jobs.jobs["root1"] = rendering(job("root1", common_pb2.JOB_STATE_QUEUED), 40)
    out_dir = tmp_path / "out"

    result = run_cli("--controller", scripted.address, "output", "root1", "-o", str(out_dir))

    assert result.returncode == 1
    assert "job root1 is rendering, not finished" in result.stderr
    assert not out_dir.exists()


def test_output_rejects_path_in_name(scripted: Scripted, tmp_path: Path) -> None:
    data = b"video"
    digest = sha256_of(data)
    unsafe = common_pb2.Output(
        url=f"artifact://{digest}/x", size=len(data), sha256=digest, name="../escape.mp4"
    )
    scripted.jobs.jobs["root1"] = finished(job("root1", common_pb2.JOB_STATE_QUEUED), [unsafe])
    scripted.artifacts.blobs = {digest: data}
    out_dir = tmp_path / "out"

    result = run_cli("--controller", scripted.address, "output", "root1", "-o", str(out_dir))

    assert result.returncode == 1
    assert "unusable file name '../escape.mp4'" in result.stderr
    assert not (tmp_path / "escape.mp4").exists()


def test_job_not_found(scripted: Scripted) -> None:
    result = run_cli("--controller", scripted.address, "job", "nope")

    assert result.returncode == 1
    assert result.stderr.strip() == "aefarm job: cannot get job nope: job nope not found"


def test_jobs_follows_pages(scripted: Scripted) -> None:
    for name in ("a", "b", "c", "d", "e"):
        scripted.jobs.jobs[name] = job(name, common_pb2.JOB_STATE_QUEUED)

    result = run_cli("--controller", scripted.address, "jobs", "--limit", "3", "--json")
    listed = json.loads(result.stdout)

    assert result.returncode == 0, result.stderr
    assert [item["id"] for item in listed] == ["a", "b", "c"]
    assert [request.page_token for request in scripted.jobs.list_requests] == ["", "2"]
    assert all(request.roots_only for request in scripted.jobs.list_requests)


def test_jobs_all_and_state_filters(scripted: Scripted) -> None:
    scripted.jobs.jobs["a"] = job("a", common_pb2.JOB_STATE_FAILED)

    result = run_cli(
        "--controller",
        scripted.address,
        "jobs",
        "--all",
        "--state",
        "failed",
        "--state",
        "cancelled",
    )

    assert result.returncode == 0, result.stderr
    request = scripted.jobs.list_requests[0]
    assert not request.roots_only
    assert list(request.states) == [common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED]
    assert result.stdout.splitlines()[1].split()[:2] == ["a", "failed"]


def test_cancel_prints_new_state(scripted: Scripted) -> None:
    result = run_cli("--controller", scripted.address, "cancel", "root1", "--reason", "typo")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "job root1 is cancelled\n"


def test_logs_prints_bytes(scripted: Scripted) -> None:
    scripted.jobs.log_chunks = [
        jobs_pb2.JobLogChunk(attempt=2, data=b"PROGRESS: 0:00:00:00 (1): 0 Seconds\n"),
        jobs_pb2.JobLogChunk(attempt=2, data=b"PROGRESS: Total Time Elapsed: 1 Seconds\n"),
    ]

    result = run_cli("--controller", scripted.address, "logs", "root1", "--attempt", "2")

    assert result.returncode == 0, result.stderr
    assert scripted.jobs.log_requests == [2]
    assert result.stdout == (
        "PROGRESS: 0:00:00:00 (1): 0 Seconds\nPROGRESS: Total Time Elapsed: 1 Seconds\n"
    )


def test_logs_reports_truncation(scripted: Scripted) -> None:
    scripted.jobs.log_chunks = [jobs_pb2.JobLogChunk(attempt=1, data=b"x\n", truncated=True)]

    result = run_cli("--controller", scripted.address, "logs", "root1")

    assert result.returncode == 0, result.stderr
    assert scripted.jobs.log_requests == [0]
    assert "cut at the controller's limit of 8 MiB per attempt" in result.stderr


def test_agents_table(scripted: Scripted) -> None:
    scripted.farm.agents = [
        jobs_pb2.AgentInfo(
            agent_id="agent-1",
            host="render01",
            engines=[agent_pb2.Engine(name="ae2026", version="26.0x55", available=True)],
            slots=2,
            state="connected",
        )
    ]

    result = run_cli("--controller", scripted.address, "agents")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "HOST", "STATE"]
    assert lines[1].split()[:5] == ["agent-1", "render01", "connected", "ae2026", "26.0x55"]
