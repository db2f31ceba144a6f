"""The real controller in-process on 127.0.0.1 port 0, driven by real gRPC clients.

FakeAgent speaks the agent protocol over a real Connect stream. Each test runs its own event
loop with asyncio.run, because the suite has no asyncio plugin for pytest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controller.server import ControllerConfig, ControllerServer
from protos import (
    agent_pb2,
    agent_pb2_grpc,
    artifacts_pb2,
    artifacts_pb2_grpc,
    common_pb2,
    jobs_pb2,
    jobs_pb2_grpc,
)

# Upper bound for one awaited message, so a broken controller fails the test instead of hanging.
READ_TIMEOUT_SECONDS = 10.0

JOB = {"template": {"src": "https://cdn.example/intro.aep", "composition": "main"}}


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


@asynccontextmanager
async def controller(data_dir: Path) -> AsyncIterator[Client]:
    config = ControllerConfig(data_dir=data_dir, port=0, heartbeat_interval=0.5, lease_grace=5.0)
    server = ControllerServer(config)
    address = await server.start()
    channel = grpc.aio.insecure_channel(address)
    try:
        yield Client(channel, server)
    finally:
        await channel.close()
        await server.stop()


class Client:
    def __init__(self, channel: grpc.aio.Channel, server: ControllerServer) -> None:
        self.channel = channel
        self.server = server
        self.jobs = jobs_pb2_grpc.JobServiceStub(channel)
        self.farm = jobs_pb2_grpc.FarmServiceStub(channel)
        self.artifacts = artifacts_pb2_grpc.ArtifactServiceStub(channel)

    async def submit(self, job: dict[str, Any]) -> jobs_pb2.SubmitResponse:
        request = jobs_pb2.SubmitRequest(job_json=json.dumps(job), source="test")
        return await self.jobs.Submit(request)

    async def get(self, job_id: str) -> jobs_pb2.Job:
        return await self.jobs.GetJob(jobs_pb2.GetJobRequest(id=job_id))

    async def upload(self, name: str, data: bytes, sha256: str = "") -> artifacts_pb2.ArtifactRef:
        header = artifacts_pb2.UploadHeader(name=name, size=len(data), sha256=sha256)
        chunks = [artifacts_pb2.UploadChunk(header=header)]
        chunks += [artifacts_pb2.UploadChunk(data=data[i : i + 4]) for i in range(0, len(data), 4)]
        return await self.artifacts.Upload(iter(chunks))

    def agent(self, agent_id: str, **options: Any) -> FakeAgent:
        return FakeAgent(self.channel, agent_id, **options)


class FakeAgent:
    """An agent driven by the test: it sends the messages the test gives and reads the replies."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        agent_id: str,
        engines: Sequence[str] = ("ae2026",),
        slots: int = 1,
    ) -> None:
        self.agent_id = agent_id
        self.engines = engines
        self.slots = slots
        self.call = agent_pb2_grpc.AgentServiceStub(channel).Connect()

    async def connect(self, running: Sequence[agent_pb2.RunningLease] = ()) -> agent_pb2.Welcome:
        hello = agent_pb2.Hello(
            agent_id=self.agent_id,
            host="box.local",
            version="0.1.0",
            engines=[
                agent_pb2.Engine(name=name, version="26.0x55", path="/opt/ae", available=True)
                for name in self.engines
            ],
            slots=self.slots,
            running=running,
        )
        await self.send(hello=hello)
        return (await self.receive("welcome")).welcome

    async def send(self, **body: Any) -> None:
        await self.call.write(agent_pb2.AgentMessage(**body))

    async def receive(self, kind: str) -> agent_pb2.ControllerMessage:
        message = await asyncio.wait_for(self.call.read(), READ_TIMEOUT_SECONDS)
        assert message is not grpc.aio.EOF, f"the controller closed the stream before a {kind}"
        assert message.WhichOneof("body") == kind, f"expected {kind}, got {message}"
        return message

    async def close(self) -> None:
        await self.call.done_writing()
        assert await asyncio.wait_for(self.call.read(), READ_TIMEOUT_SECONDS) is grpc.aio.EOF


async def read_all(call: Any) -> list[jobs_pb2.JobEvent]:
    """Read a server stream until it ends."""
    events = []
    while (event := await asyncio.wait_for(call.read(), READ_TIMEOUT_SECONDS)) is not grpc.aio.EOF:
        events.append(event)
    return events


async def wait_for_state(client: Client, job_id: str, state: int) -> jobs_pb2.Job:
    """Poll GetJob until the job is in state; the controller applies messages in order."""
    for _ in range(int(READ_TIMEOUT_SECONDS / 0.01)):
        job = await client.get(job_id)
        if job.state == state:
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never reached state {state}: {job}")


def test_submit_lease_progress_result(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with controller(tmp_path) as client:
            submitted = await client.submit(JOB)
            job_id = submitted.job.id
            assert submitted.job.state == common_pb2.JOB_STATE_QUEUED
            assert list(submitted.children) == []

            agent = client.agent("render-1")
            welcome = await agent.connect()
            assert (welcome.heartbeat_interval_ms, welcome.lease_grace_ms) == (500, 5000)
            lease = (await agent.receive("lease")).lease
            assert (lease.job_id, lease.attempt) == (job_id, 1)
            assert lease.task.template_src == "https://cdn.example/intro.aep"
            assert lease.task.composition == "main"

            await agent.send(
                progress=agent_pb2.Progress(
                    lease_id=lease.lease_id,
                    job_id=job_id,
                    attempt=1,
                    stage=common_pb2.STAGE_RENDER,
                    percent=50.0,
                    frames_done=15,
                    frames_total=30,
                )
            )
            log = b"PROGRESS:  0:00:00:14 (15): 0 Seconds\n"
            await agent.send(
                log=agent_pb2.LogChunk(
                    lease_id=lease.lease_id, job_id=job_id, attempt=1, offset=0, data=log
                )
            )
            rendering = await wait_for_state(client, job_id, common_pb2.JOB_STATE_RENDERING)
            assert (rendering.stage, rendering.progress) == (common_pb2.STAGE_RENDER, 50.0)
            assert (rendering.frames_done, rendering.frames_total) == (15, 30)
            assert rendering.agent_id == "render-1"

            data = b"not really an mp4"
            ref = await client.upload("intro.mp4", data, hashlib.sha256(data).hexdigest())
            assert ref.url == f"artifact://{ref.sha256}/intro.mp4"
            result = agent_pb2.Result(
                result_id="result-1",
                lease_id=lease.lease_id,
                job_id=job_id,
                attempt=1,
                success=True,
                outputs=[
                    common_pb2.Output(url=ref.url, size=ref.size, sha256=ref.sha256, name=ref.name)
                ],
            )
            await agent.send(result=result)
            ack = (await agent.receive("ack")).ack
            assert (ack.result_id, ack.accepted) == ("result-1", True)

            job = await client.get(job_id)
            assert job.state == common_pb2.JOB_STATE_FINISHED
            assert [output.url for output in job.outputs] == [ref.url]
            assert job.attempts == 1
            assert job.agent_id == ""
            states = [transition.state for transition in job.history]
            assert states == [
                common_pb2.JOB_STATE_QUEUED,
                common_pb2.JOB_STATE_LEASED,
                common_pb2.JOB_STATE_RENDERING,
                common_pb2.JOB_STATE_FINISHED,
            ]
            assert job.history[-1].agent_id == "render-1"

            await agent.send(result=result)
            again = (await agent.receive("ack")).ack
            assert (again.accepted, again.reason) == (True, "applied before")

            logs = client.jobs.GetJobLogs(jobs_pb2.GetJobLogsRequest(id=job_id))
            assert b"".join([chunk.data async for chunk in logs]) == log
            download = client.artifacts.Download(artifacts_pb2.DownloadRequest(sha256=ref.sha256))
            chunks = [chunk async for chunk in download]
            assert b"".join(chunk.data for chunk in chunks) == data
            assert chunks[0].size == len(data)
            await agent.close()

    run(scenario)


def test_invalid_job_rejected_with_bad_request(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with controller(tmp_path) as client:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.submit({"template": {"src": "https://cdn.example/t.aep"}})
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "$.template.composition" in (caught.value.details() or "")
            violations = bad_request(caught.value)
            assert [violation.field for violation in violations] == ["$.template.composition"]
            assert "composition" in violations[0].description

            stored_template = {"template": {"id": "tpl-123", "composition": "main"}}
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.submit(stored_template)
            violations = bad_request(caught.value)
            assert [violation.field for violation in violations] == ["$.template.id"]
            assert "template.src" in violations[0].description

            request = jobs_pb2.SubmitRequest(job_json=json.dumps(stored_template))
            validated = await client.jobs.Validate(request)
            assert not validated.valid
            assert [problem.path for problem in validated.problems] == ["$.template.id"]
            valid = await client.jobs.Validate(jobs_pb2.SubmitRequest(job_json=json.dumps(JOB)))
            assert valid.valid
            assert json.loads(valid.spec_json)["template"]["composition"] == "main"

            listed = await client.jobs.ListJobs(jobs_pb2.ListJobsRequest())
            assert list(listed.jobs) == []

    run(scenario)


def bad_request(error: grpc.aio.AioRpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status"
    details = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(details)
    return list(details.field_violations)


def test_status_codes_name_the_value(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with controller(tmp_path) as client:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.get("no-such-job")
            assert caught.value.code() is grpc.StatusCode.NOT_FOUND
            assert "no-such-job" in (caught.value.details() or "")

            submitted = await client.submit(JOB)
            cancel = jobs_pb2.CancelJobRequest(id=submitted.job.id, reason="test")
            cancelled = await client.jobs.CancelJob(cancel)
            assert cancelled.state == common_pb2.JOB_STATE_CANCELLED
            assert cancelled.history[-1].cause == "cancelled: test"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.jobs.CancelJob(cancel)
            assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert "cancelled" in (caught.value.details() or "")

            logs = client.jobs.GetJobLogs(jobs_pb2.GetJobLogsRequest(id=submitted.job.id))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await read_all(logs)
            assert caught.value.code() is grpc.StatusCode.NOT_FOUND
            assert "no attempts yet" in (caught.value.details() or "")

            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.upload("out.mp4", b"abc", sha256="0" * 64)
            assert caught.value.code() is grpc.StatusCode.DATA_LOSS
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.artifacts.Stat(artifacts_pb2.StatRequest(sha256="0" * 64))
            assert caught.value.code() is grpc.StatusCode.NOT_FOUND

            page = jobs_pb2.ListJobsRequest(page_token="garbage")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.jobs.ListJobs(page)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    run(scenario)


def test_nested_job_watched_to_the_end(tmp_path: Path) -> None:
    job = {
        **JOB,
        "assets": [
            {
                "type": "job",
                "layerName": "Lower Third",
                "template": {"src": "https://cdn.example/lower.aep", "composition": "lt"},
            }
        ],
    }

    async def scenario() -> None:
        async with controller(tmp_path) as client:
            submitted = await client.submit(job)
            parent_id = submitted.job.id
            assert submitted.job.state == common_pb2.JOB_STATE_PENDING
            (child,) = submitted.children
            assert list(submitted.job.child_ids) == [child.id]
            assert (child.parent_id, child.layer_name) == (parent_id, "Lower Third")

            watch = client.jobs.WatchJob(jobs_pb2.WatchJobRequest(id=parent_id))
            events: list[jobs_pb2.JobEvent] = []
            first = await asyncio.wait_for(watch.read(), READ_TIMEOUT_SECONDS)
            events.append(first)
            assert first.job.id == parent_id

            agent = client.agent("render-1")
            await agent.connect()
            child_lease = (await agent.receive("lease")).lease
            assert child_lease.job_id == child.id
            ref = await client.upload("lower.mov", b"lower third clip")
            await agent.send(result=success(child_lease, ref, "child-result"))
            await agent.receive("ack")
            parent_lease = (await agent.receive("lease")).lease
            assert parent_lease.job_id == parent_id
            footage = parent_lease.task.assets[-1].footage
            assert (footage.type, footage.src, footage.layer_name) == (
                "video",
                ref.url,
                "Lower Third",
            )

            final = await client.upload("final.mp4", b"final video")
            await agent.send(result=success(parent_lease, final, "parent-result"))
            await agent.receive("ack")
            events += await read_all(watch)
            assert events[-1].job.id == parent_id
            assert events[-1].job.state == common_pb2.JOB_STATE_FINISHED
            assert events[-1].tree_progress == 100.0
            sequences = [event.sequence for event in events]
            assert sequences[1:] == sorted(sequences[1:])
            assert {event.job.id for event in events} == {parent_id, child.id}
            await agent.close()

    run(scenario)


def success(
    lease: agent_pb2.Lease, ref: artifacts_pb2.ArtifactRef, result_id: str
) -> agent_pb2.Result:
    output = common_pb2.Output(url=ref.url, size=ref.size, sha256=ref.sha256, name=ref.name)
    return agent_pb2.Result(
        result_id=result_id,
        lease_id=lease.lease_id,
        job_id=lease.job_id,
        attempt=lease.attempt,
        success=True,
        outputs=[output],
    )


def test_agents_listed_with_leases(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with controller(tmp_path) as client:
            submitted = await client.submit(JOB)
            agent = client.agent("render-1", slots=2)
            await agent.connect()
            lease = (await agent.receive("lease")).lease

            (info,) = (await client.farm.ListAgents(jobs_pb2.ListAgentsRequest())).agents
            assert (info.agent_id, info.state, info.slots) == ("render-1", "connected", 2)
            assert [engine.name for engine in info.engines] == ["ae2026"]
            assert [(r.lease_id, r.job_id) for r in info.running] == [
                (lease.lease_id, submitted.job.id)
            ]
            await agent.close()
            (info,) = (await client.farm.ListAgents(jobs_pb2.ListAgentsRequest())).agents
            assert info.state == "disconnected"

    run(scenario)


def test_restart_finds_job_and_readopts_lease(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with controller(tmp_path) as client:
            submitted = await client.submit(JOB)
            agent = client.agent("render-1")
            await agent.connect()
            lease = (await agent.receive("lease")).lease

        async with controller(tmp_path) as client:
            job = await client.get(submitted.job.id)
            assert job.state == common_pb2.JOB_STATE_LEASED
            assert [t.state for t in job.history][-1] == common_pb2.JOB_STATE_LEASED
            agent = client.agent("render-1")
            running = agent_pb2.RunningLease(
                lease_id=lease.lease_id, job_id=lease.job_id, attempt=lease.attempt
            )
            stale = agent_pb2.RunningLease(lease_id="gone", job_id=lease.job_id, attempt=9)
            welcome = await agent.connect(running=[running, stale])
            assert list(welcome.stop_lease_ids) == ["gone"]
            ref = await client.upload("intro.mp4", b"video")
            await agent.send(result=success(lease, ref, "result-after-restart"))
            assert (await agent.receive("ack")).ack.accepted
            job = await client.get(submitted.job.id)
            assert job.state == common_pb2.JOB_STATE_FINISHED
            await agent.close()

    run(scenario)


def test_watch_resumes_after_sequence(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with controller(tmp_path) as client:
            first = await client.submit(JOB)
            second = await client.submit(JOB)

            watch = client.jobs.WatchJob(jobs_pb2.WatchJobRequest(id=second.job.id))
            event = await asyncio.wait_for(watch.read(), READ_TIMEOUT_SECONDS)
            assert event.job.state == common_pb2.JOB_STATE_QUEUED
            watch.cancel()

            agent = client.agent("render-1")
            await agent.connect()
            lease = (await agent.receive("lease")).lease
            assert lease.job_id == first.job.id

            resumed = client.jobs.WatchJob(
                jobs_pb2.WatchJobRequest(id=second.job.id, after_sequence=event.sequence)
            )
            await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(id=second.job.id))
            events = await read_all(resumed)
            # The queued state was seen before, so only the cancellation arrives.
            assert [e.job.state for e in events] == [common_pb2.JOB_STATE_CANCELLED]
            assert events[0].sequence > event.sequence
            await agent.close()

    run(scenario)
