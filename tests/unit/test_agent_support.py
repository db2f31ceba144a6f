"""Helpers for the agent tests: a stand-in controller, projects, leases and a running agent.

This module contains no tests; test_agent.py and test_agent_connection.py import it. The
stand-in controller is a real gRPC server on 127.0.0.1. It implements AgentService.Connect and
ArtifactService as the contract in protos/ describes them. It sends a Welcome after the Hello,
leases and cancels when a test asks, and an Ack for every result, and it stores artifacts by
sha256 in a folder. Renders run the aerender simulator, so the tests exercise the whole
pipeline with real processes and files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import imageio_ffmpeg
import psutil
import py_aep

from agent.backoff import BackoffSettings
from agent.config import AgentConfig
from agent.connection import ChannelSettings
from agent.daemon import RenderAgent
from agent.engine_config import simulated_engines
from protos import (
    agent_pb2,
    agent_pb2_grpc,
    artifacts_pb2,
    artifacts_pb2_grpc,
    common_pb2,
)

# Seconds any single wait in these tests may take before the test fails; a bound against a
# hung test, not a timing threshold.
WAIT = 60.0
FAST_BACKOFF = BackoffSettings(initial=0.05, maximum=0.2, multiplier=2.0, jitter=0.5)


class StandInController(
    agent_pb2_grpc.AgentServiceServicer, artifacts_pb2_grpc.ArtifactServiceServicer
):
    def __init__(self, artifact_dir: Path) -> None:
        self.artifact_dir = artifact_dir
        artifact_dir.mkdir(parents=True, exist_ok=True)
        self.hellos: list[agent_pb2.Hello] = []
        self.received: list[agent_pb2.AgentMessage] = []
        self.results: list[agent_pb2.Result] = []
        self.acknowledge = True
        self.stop_lease_ids: list[str] = []
        # Status codes that the next Connect calls fail with, one per call.
        self.rejections: list[grpc.StatusCode] = []
        self.connect_calls = 0
        self._outgoing: asyncio.Queue[agent_pb2.ControllerMessage | None] | None = None
        self._changed = asyncio.Condition()
        self._streams: list[grpc.aio.ServicerContext] = []

    # AgentService

    async def Connect(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[agent_pb2.ControllerMessage]:
        self.connect_calls += 1
        if self.rejections:
            await context.abort(self.rejections.pop(0), "rejected by the stand-in")
        first = await anext(request_iterator)
        assert first.WhichOneof("body") == "hello"
        outgoing: asyncio.Queue[agent_pb2.ControllerMessage | None] = asyncio.Queue()
        self._outgoing = outgoing
        self._streams.append(context)
        await self._record(hello=first.hello)
        yield agent_pb2.ControllerMessage(
            welcome=agent_pb2.Welcome(
                controller_version="stand-in",
                heartbeat_interval_ms=100,
                lease_grace_ms=10_000,
                stop_lease_ids=self.stop_lease_ids,
            )
        )
        reader = asyncio.create_task(self._read(request_iterator, outgoing))
        try:
            while (message := await outgoing.get()) is not None:
                yield message
        finally:
            reader.cancel()

    async def _read(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        outgoing: asyncio.Queue[agent_pb2.ControllerMessage | None],
    ) -> None:
        try:
            async for message in request_iterator:
                await self._record(message=message)
                if message.WhichOneof("body") == "result" and self.acknowledge:
                    result = message.result
                    ack = agent_pb2.Ack(
                        result_id=result.result_id, lease_id=result.lease_id, accepted=True
                    )
                    outgoing.put_nowait(agent_pb2.ControllerMessage(ack=ack))
        finally:
            outgoing.put_nowait(None)

    async def _record(
        self, hello: agent_pb2.Hello | None = None, message: agent_pb2.AgentMessage | None = None
    ) -> None:
        async with self._changed:
            if hello is not None:
                self.hellos.append(hello)
            if message is not None:
                self.received.append(message)
                if message.WhichOneof("body") == "result":
                    self.results.append(message.result)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any]) -> Any:
        async def until() -> Any:
            async with self._changed:
                while not (value := predicate()):
                    await self._changed.wait()
                return value

        return await asyncio.wait_for(until(), WAIT)

    def send(self, message: agent_pb2.ControllerMessage) -> None:
        assert self._outgoing is not None, "no agent is connected"
        self._outgoing.put_nowait(message)

    def drop_streams(self) -> None:
        """End the current stream from the controller side."""
        if self._outgoing is not None:
            self._outgoing.put_nowait(None)

    def of_kind(self, kind: str) -> list[Any]:
        return [getattr(m, kind) for m in self.received if m.WhichOneof("body") == kind]

    # ArtifactService

    async def Upload(
        self,
        request_iterator: AsyncIterator[artifacts_pb2.UploadChunk],
        context: grpc.aio.ServicerContext,
    ) -> artifacts_pb2.ArtifactRef:
        header = None
        digest = hashlib.sha256()
        data = bytearray()
        async for chunk in request_iterator:
            if chunk.WhichOneof("body") == "header":
                header = chunk.header
            else:
                digest.update(chunk.data)
                data += chunk.data
        assert header is not None
        sha256 = digest.hexdigest()
        if header.size != len(data):
            await context.abort(grpc.StatusCode.DATA_LOSS, "size differs from the header")
        (self.artifact_dir / sha256).write_bytes(bytes(data))
        return artifacts_pb2.ArtifactRef(
            sha256=sha256,
            size=len(data),
            name=header.name,
            url=f"artifact://{sha256}/{header.name}",
        )

    async def Download(
        self, request: artifacts_pb2.DownloadRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[artifacts_pb2.DownloadChunk]:
        path = self.artifact_dir / request.sha256
        if not path.is_file():
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no artifact {request.sha256}")
        data = path.read_bytes()
        offset = request.offset
        first = True
        while first or offset < len(data):
            yield artifacts_pb2.DownloadChunk(
                data=data[offset : offset + 65536], size=len(data) if first else 0
            )
            offset += 65536
            first = False

    async def Stat(
        self, request: artifacts_pb2.StatRequest, context: grpc.aio.ServicerContext
    ) -> artifacts_pb2.ArtifactRef:
        path = self.artifact_dir / request.sha256
        if not path.is_file():
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no artifact {request.sha256}")
        return artifacts_pb2.ArtifactRef(sha256=request.sha256, size=path.stat().st_size)

    def store(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        (self.artifact_dir / sha256).write_bytes(data)
        return sha256


async def start_server(standin: StandInController, port: int = 0) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(standin, server)
    artifacts_pb2_grpc.add_ArtifactServiceServicer_to_server(standin, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


# Projects and leases


def make_png(path: Path, color: str = "red") -> Path:
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color={color}:s=64x36",
            "-frames:v",
            "1",
            str(path),
        ],
        check=True,
    )
    return path


def make_project(path: Path, *, seconds: float = 1.0, comment: str = "") -> Path:
    """A 160x90, 10 fps composition "Main" with a solid "Slot" and a text layer "Title"."""
    app = py_aep.new()
    comp = app.project.root_folder.add_comp("Main", 160, 90, 1.0, seconds, 10.0)
    comp.add_solid([0.0, 0.0, 1.0], name="Slot")
    title = comp.add_text("Placeholder")
    title.name = "Title"
    if comment:
        comp.comment = comment
    app.project.save(path)
    return path


def render_lease(
    template: Path, *, codec: str = "video_h264_vbr_15mbps", **settings: Any
) -> agent_pb2.Lease:
    footage = make_png(template.parent / "red.png")
    task = common_pb2.RenderTask(
        kind="render",
        template_src=template.as_uri(),
        composition="Main",
        assets=[
            common_pb2.Asset(
                footage=common_pb2.FootageAsset(
                    type="image", src=footage.as_uri(), layer_name="Slot"
                )
            ),
            common_pb2.Asset(
                data=common_pb2.DataAsset(
                    layer_name="Title", property=["Source Text"], value_json=json.dumps("Hello")
                )
            ),
        ],
        settings=common_pb2.RenderSettings(
            engine="ae2026", codec=codec, quality="full", **settings
        ),
    )
    return agent_pb2.Lease(lease_id=uuid.uuid4().hex, job_id=uuid.uuid4().hex, attempt=1, task=task)


class RunningAgent:
    def __init__(self, agent: RenderAgent, shutdown: asyncio.Event, task: asyncio.Task[None]):
        self.agent = agent
        self.shutdown = shutdown
        self.task = task

    async def stop(self) -> None:
        self.shutdown.set()
        await asyncio.wait_for(self.task, WAIT)


def agent_config(work_dir: Path, port: int, **overrides: Any) -> AgentConfig:
    # An agent reads no local files outside its file roots; test files live in the temp dir.
    overrides.setdefault("file_roots", (Path(tempfile.gettempdir()),))
    return AgentConfig(
        controller=f"127.0.0.1:{port}",
        work_dir=work_dir,
        agent_id="test-agent",
        simulate=True,
        **overrides,
    )


async def start_agent(config: AgentConfig) -> RunningAgent:
    agent = RenderAgent(
        config,
        simulated_engines(),
        backoff=FAST_BACKOFF,
        channel_settings=ChannelSettings(connection_wait=WAIT),
    )
    shutdown = asyncio.Event()
    task = asyncio.create_task(agent.run(shutdown))
    return RunningAgent(agent, shutdown, task)


def run(coroutine: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coroutine(), 4 * WAIT))


Scenario = Callable[[StandInController, RunningAgent], Awaitable[None]]


def run_farm(tmp_path: Path, scenario: Scenario, **config: Any) -> None:
    """Run scenario against a stand-in controller and a simulated agent, then check that the
    agent stopped cleanly and left no child process behind."""

    async def main() -> None:
        children_before = child_processes()
        standin = StandInController(tmp_path / "artifacts")
        server, port = await start_server(standin)
        agent = await start_agent(agent_config(tmp_path / "work", port, **config))
        try:
            await standin.wait_for(lambda: standin.hellos)
            await scenario(standin, agent)
        finally:
            await agent.stop()
            await server.stop(None)
        assert child_processes() - children_before == set()

    run(main)


def child_processes() -> set[psutil.Process]:
    """The processes below this one; processes of other tests may be among them."""
    return set(psutil.Process().children(recursive=True))


async def lease_result(standin: StandInController, lease: agent_pb2.Lease) -> agent_pb2.Result:
    standin.send(agent_pb2.ControllerMessage(lease=lease))
    return await result_of(standin, lease.lease_id)


async def result_of(standin: StandInController, lease_id: str) -> agent_pb2.Result:
    results = await standin.wait_for(lambda: [r for r in standin.results if r.lease_id == lease_id])
    return results[0]


async def rendering(standin: StandInController, lease_id: str) -> None:
    """Wait until the lease's aerender process printed its first bytes."""
    await standin.wait_for(lambda: [c for c in standin.of_kind("log") if c.lease_id == lease_id])


def make_clip(path: Path, size: str, frames: int) -> None:
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=s={size}:r=10",
            "-frames:v",
            str(frames),
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
