"""The aefarm CLI as a real process against a scripted controller on 127.0.0.1.

The scripted JobService and ArtifactService are real gRPC servers whose responses each test sets.
They produce what a real controller does only by accident: a watch stream that breaks in the
middle, a download that breaks, an artifact whose bytes do not match its sha256, a rejection
with a BadRequest detail.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from protos import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    common_pb2,
    jobs_pb2,
    jobs_pb2_grpc,
)

TOP = Path(__file__).resolve().parents[2]

WatchScript = Callable[
    [jobs_pb2.WatchJobRequest, grpc.ServicerContext], Iterator[jobs_pb2.JobEvent]
]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "AEFARM_CONTROLLER"}
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or TOP,
        timeout=120,
        check=False,
    )


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_of(name: str, data: bytes, sha256: str | None = None) -> common_pb2.Output:
    digest = sha256 or sha256_of(data)
    return common_pb2.Output(
        url=f"artifact://{digest}/{name}", size=len(data), sha256=digest, name=name
    )


def job(job_id: str, state: int, **fields: Any) -> jobs_pb2.Job:
    return jobs_pb2.Job(id=job_id, state=state, kind="render", **fields)  # type: ignore[arg-type]


def event(sequence: int, message: jobs_pb2.Job, tree_progress: float = 0) -> jobs_pb2.JobEvent:
    return jobs_pb2.JobEvent(sequence=sequence, job=message, tree_progress=tree_progress)


@dataclass
class ScriptedJobs(jobs_pb2_grpc.JobServiceServicer):
    jobs: dict[str, jobs_pb2.Job] = field(default_factory=dict)
    children: list[jobs_pb2.Job] = field(default_factory=list)
    submitted: list[jobs_pb2.SubmitRequest] = field(default_factory=list)
    reject_with: status_pb2.Status | None = None
    watch_scripts: list[WatchScript] = field(default_factory=list)
    # Used once watch_scripts is empty.
    default_watch: WatchScript | None = None
    watch_requests: list[int] = field(default_factory=list)
    list_requests: list[jobs_pb2.ListJobsRequest] = field(default_factory=list)
    log_requests: list[int] = field(default_factory=list)
    log_chunks: list[jobs_pb2.JobLogChunk] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def Submit(
        self, request: jobs_pb2.SubmitRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.SubmitResponse:
        self.submitted.append(request)
        if self.reject_with is not None:
            context.abort_with_status(rpc_status.to_status(self.reject_with))
        root = self.jobs["root1"]
        return jobs_pb2.SubmitResponse(job=root, children=self.children)

    def Validate(
        self, request: jobs_pb2.SubmitRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.ValidateResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the CLI validates offline")
        raise AssertionError("context.abort raises")

    def GetJob(
        self, request: jobs_pb2.GetJobRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.Job:
        if request.id not in self.jobs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.id} not found")
        return self.jobs[request.id]

    def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.ListJobsResponse:
        # Pages of two jobs whatever the limit, to make the CLI follow page tokens.
        self.list_requests.append(request)
        ordered = sorted(self.jobs.values(), key=lambda item: item.id)
        start = int(request.page_token or 0)
        page = ordered[start : start + 2]
        more = start + 2 < len(ordered)
        return jobs_pb2.ListJobsResponse(jobs=page, next_page_token=str(start + 2) if more else "")

    def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.JobEvent]:
        with self.lock:
            self.watch_requests.append(request.after_sequence)
            script = self.watch_scripts.pop(0) if self.watch_scripts else self.default_watch
        assert script is not None, "the CLI opened more watch streams than the test expected"
        yield from script(request, context)

    def CancelJob(
        self, request: jobs_pb2.CancelJobRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.Job:
        cancelled = job(request.id, common_pb2.JOB_STATE_CANCELLED)
        self.jobs[request.id] = cancelled
        return cancelled

    def GetJobLogs(
        self, request: jobs_pb2.GetJobLogsRequest, context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.JobLogChunk]:
        self.log_requests.append(request.attempt)
        yield from self.log_chunks


@dataclass
class ScriptedFarm(jobs_pb2_grpc.FarmServiceServicer):
    agents: list[jobs_pb2.AgentInfo] = field(default_factory=list)

    def ListAgents(
        self, request: jobs_pb2.ListAgentsRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.ListAgentsResponse:
        return jobs_pb2.ListAgentsResponse(agents=self.agents)


@dataclass
class ScriptedArtifacts(artifacts_pb2_grpc.ArtifactServiceServicer):
    blobs: dict[str, bytes] = field(default_factory=dict)
    chunk_size: int = 4
    # Number of downloads that break after their first chunk.
    breaks_left: int = 0
    offsets: list[int] = field(default_factory=list)

    def Upload(
        self, request_iterator: Iterator[artifacts_pb2.UploadChunk], context: grpc.ServicerContext
    ) -> artifacts_pb2.ArtifactRef:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the CLI never uploads")
        raise AssertionError("context.abort raises")

    def Stat(
        self, request: artifacts_pb2.StatRequest, context: grpc.ServicerContext
    ) -> artifacts_pb2.ArtifactRef:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the CLI never stats")
        raise AssertionError("context.abort raises")

    def Download(
        self, request: artifacts_pb2.DownloadRequest, context: grpc.ServicerContext
    ) -> Iterator[artifacts_pb2.DownloadChunk]:
        self.offsets.append(request.offset)
        data = self.blobs[request.sha256]
        for start in range(request.offset, len(data), self.chunk_size):
            piece = data[start : start + self.chunk_size]
            yield artifacts_pb2.DownloadChunk(data=piece, size=len(data))
            if self.breaks_left:
                self.breaks_left -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")


@dataclass
class Scripted:
    address: str
    jobs: ScriptedJobs
    farm: ScriptedFarm
    artifacts: ScriptedArtifacts


@contextmanager
def scripted_controller() -> Iterator[Scripted]:
    """Serve the scripted services on a free port of 127.0.0.1 until the block ends."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    service = Scripted("", ScriptedJobs(), ScriptedFarm(), ScriptedArtifacts())
    jobs_pb2_grpc.add_JobServiceServicer_to_server(service.jobs, server)
    jobs_pb2_grpc.add_FarmServiceServicer_to_server(service.farm, server)
    artifacts_pb2_grpc.add_ArtifactServiceServicer_to_server(service.artifacts, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    service.address = f"127.0.0.1:{port}"
    try:
        yield service
    finally:
        server.stop(grace=None)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    with scripted_controller() as service:
        yield service


def events_then(
    events: list[jobs_pb2.JobEvent], code: grpc.StatusCode | None = None
) -> WatchScript:
    """Return a watch script that streams events, then breaks with code unless it is None."""

    def script(
        request: jobs_pb2.WatchJobRequest, context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.JobEvent]:
        yield from events
        if code is not None:
            context.abort(code, "controller restarting")

    return script


def two_level_tree(scripted: Scripted) -> tuple[jobs_pb2.Job, jobs_pb2.Job]:
    root = job("root1", common_pb2.JOB_STATE_PENDING, child_ids=["child1"], composition="main")
    child = job("child1", common_pb2.JOB_STATE_QUEUED, parent_id="root1", layer_name="Clip A")
    scripted.jobs.jobs.update({"root1": root, "child1": child})
    scripted.jobs.children = [child]
    return root, child


def finished(message: jobs_pb2.Job, outputs: list[common_pb2.Output]) -> jobs_pb2.Job:
    done = jobs_pb2.Job()
    done.CopyFrom(message)
    done.state = common_pb2.JOB_STATE_FINISHED
    done.progress = 100
    done.outputs.extend(outputs)
    return done


def rendering(message: jobs_pb2.Job, percent: float) -> jobs_pb2.Job:
    running = jobs_pb2.Job()
    running.CopyFrom(message)
    running.state = common_pb2.JOB_STATE_RENDERING
    running.stage = common_pb2.STAGE_RENDER
    running.progress = percent
    running.agent_id = "agent-1"
    return running


def write_job(folder: Path) -> Path:
    path = folder / "job.json"
    job_document = {"template": {"src": "title.aep", "composition": "main"}}
    path.write_text(json.dumps(job_document), encoding="utf-8")
    return path


def test_submit_sends_resolved_sources(scripted: Scripted, tmp_path: Path) -> None:
    two_level_tree(scripted)
    job_path = write_job(tmp_path)

    result = run_cli("--controller", scripted.address, "submit", str(job_path))

    assert result.returncode == 0, result.stderr
    request = scripted.jobs.submitted[0]
    assert json.loads(request.job_json)["template"]["src"] == (tmp_path / "title.aep").as_uri()
    assert request.source == str(job_path)
    assert result.stdout.splitlines() == [
        "submitted job root1",
        'root1  composition "main"  pending',
        '  child1  layer "Clip A"  queued',
    ]


def test_submit_json_prints_response(scripted: Scripted, tmp_path: Path) -> None:
    two_level_tree(scripted)

    result = run_cli("submit", str(write_job(tmp_path)), "--json", "--controller", scripted.address)
    submitted = json.loads(result.stdout)

    assert result.returncode == 0, result.stderr
    assert submitted["job"]["id"] == "root1"
    assert submitted["job"]["state"] == "pending"
    assert [child["id"] for child in submitted["children"]] == ["child1"]
    assert submitted["children"][0]["layer_name"] == "Clip A"


def reject_two_problems(scripted: Scripted) -> None:
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field="$.template.composition", description="missing: give composition"
            ),
            error_details_pb2.BadRequest.FieldViolation(
                field="$.assets[1].layerName", description="unknown layer"
            ),
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    scripted.jobs.reject_with = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message="job is invalid: 2 problems", details=[detail]
    )


def test_submit_rejected_prints_every_problem(scripted: Scripted, tmp_path: Path) -> None:
    reject_two_problems(scripted)

    result = run_cli("--controller", scripted.address, "submit", str(write_job(tmp_path)))

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "rejected job" in lines[0]
    assert "2 problems" in lines[0]
    assert lines[1:] == [
        "$.template.composition: missing: give composition",
        "$.assets[1].layerName: unknown layer",
    ]
    assert "Traceback" not in result.stderr


def test_submit_rejected_json(scripted: Scripted, tmp_path: Path) -> None:
    reject_two_problems(scripted)

    result = run_cli("--controller", scripted.address, "submit", "--json", str(write_job(tmp_path)))

    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "problems": [
            {"path": "$.template.composition", "reason": "missing: give composition"},
            {"path": "$.assets[1].layerName", "reason": "unknown layer"},
        ]
    }


def test_submit_rejected_without_detail(scripted: Scripted, tmp_path: Path) -> None:
    scripted.jobs.reject_with = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message="job_json is not JSON"
    )

    result = run_cli("--controller", scripted.address, "submit", str(write_job(tmp_path)))

    assert result.returncode == 2
    assert result.stderr.splitlines()[1:] == ["$: job_json is not JSON"]


def test_submit_wait_resumes_broken_watch(scripted: Scripted, tmp_path: Path) -> None:
    root, child = two_level_tree(scripted)
    output = output_of("final.mp4", b"video")
    scripted.jobs.watch_scripts = [
        events_then(
            [event(1, root), event(2, child), event(3, rendering(child, 50), 25)],
            grpc.StatusCode.UNAVAILABLE,
        ),
        events_then([event(4, finished(child, [])), event(5, finished(root, [output]), 100)]),
    ]

    result = run_cli("submit", str(write_job(tmp_path)), "--wait", "--controller", scripted.address)

    assert result.returncode == 0, result.stderr
    assert scripted.jobs.watch_requests == [0, 3]
    assert "reconnecting" in result.stderr
    lines = result.stdout.splitlines()
    assert '  child1  layer "Clip A"  rendering/render  50%  on agent-1' in lines
    assert '  child1  layer "Clip A"  finished  100%' in lines
    assert lines[-2:] == ["job root1 finished", output.url]


def test_submit_wait_json_prints_final_job(scripted: Scripted, tmp_path: Path) -> None:
    root, child = two_level_tree(scripted)
    scripted.jobs.watch_scripts = [events_then([event(1, child), event(2, finished(root, []))])]

    result = run_cli(
        "submit", str(write_job(tmp_path)), "--wait", "--json", "--controller", scripted.address
    )
    documents = [json.loads(line) for line in result.stdout.splitlines()]

    assert result.returncode == 0, result.stderr
    assert len(documents) == 2
    assert documents[0]["job"]["id"] == "root1"
    assert documents[1]["id"] == "root1"
    assert documents[1]["state"] == "finished"


def test_watch_json_lines_have_no_duplicates(scripted: Scripted) -> None:
    root, child = two_level_tree(scripted)
    scripted.jobs.watch_scripts = [
        events_then([event(1, root), event(2, child)], grpc.StatusCode.UNAVAILABLE),
        # A controller that resends an event the CLI has already shown.
        events_then([event(2, child), event(3, finished(root, []))]),
    ]

    result = run_cli("--controller", scripted.address, "watch", "root1", "--json")
    sequences = [json.loads(line)["sequence"] for line in result.stdout.splitlines()]

    assert result.returncode == 0, result.stderr
    assert sequences == [1, 2, 3]
    assert scripted.jobs.watch_requests == [0, 2]


def test_watch_reopens_stream_that_ended_early(scripted: Scripted) -> None:
    root, _ = two_level_tree(scripted)
    scripted.jobs.watch_scripts = [
        events_then([event(1, root)]),
        events_then([event(2, finished(root, []))]),
    ]

    result = run_cli("--controller", scripted.address, "watch", "root1")

    assert result.returncode == 0, result.stderr
    assert scripted.jobs.watch_requests == [0, 1]


def test_watch_failed_job_exits_1(scripted: Scripted) -> None:
    root, _ = two_level_tree(scripted)
    failed = job(
        "root1",
        common_pb2.JOB_STATE_FAILED,
        error=common_pb2.JobError(code="child_failed", message="child child1 failed"),
    )
    scripted.jobs.watch_scripts = [events_then([event(1, root), event(2, failed)])]

    result = run_cli("--controller", scripted.address, "watch", "root1")

    assert result.returncode == 1
    assert "job root1 failed: child_failed: child child1 failed" in result.stderr


def test_watch_cancelled_job_exits_1(scripted: Scripted) -> None:
    cancelled = job(
        "root1",
        common_pb2.JOB_STATE_CANCELLED,
        error=common_pb2.JobError(code="cancelled", message="cancelled by admin"),
    )
    scripted.jobs.jobs["root1"] = cancelled
    scripted.jobs.watch_scripts = [events_then([event(1, cancelled)])]

    result = run_cli("--controller", scripted.address, "watch", "root1", "--json")

    assert result.returncode == 1
    assert "job root1 cancelled: cancelled: cancelled by admin" in result.stderr


def test_watch_gives_up_after_reconnect_timeout(scripted: Scripted) -> None:
    root, _ = two_level_tree(scripted)
    scripted.jobs.watch_scripts = [events_then([event(1, root)], grpc.StatusCode.UNAVAILABLE)]
    scripted.jobs.default_watch = events_then([], grpc.StatusCode.UNAVAILABLE)

    result = run_cli("--controller", scripted.address, "watch", "root1", "--reconnect-timeout", "1")

    assert result.returncode == 3
    assert "did not come back within 1 s" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(scripted.jobs.watch_requests) >= 2
    assert set(scripted.jobs.watch_requests[1:]) == {1}


def test_watch_unknown_job(scripted: Scripted) -> None:
    def not_found(
        request: jobs_pb2.WatchJobRequest, context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.JobEvent]:
        context.abort(grpc.StatusCode.NOT_FOUND, "job nope not found")
        yield from ()

    scripted.jobs.watch_scripts = [not_found]

    result = run_cli("--controller", scripted.address, "watch", "nope")

    assert result.returncode == 1
    assert "job nope not found" in result.stderr
    assert scripted.jobs.watch_requests == [0]
