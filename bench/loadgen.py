"""A load generator: many simulated agents, each a real AgentService.Connect stream.

Each simulated agent sends a Hello, heartbeats at the interval of the Welcome, and replies to each
lease with one Progress (stage render), a wait of `render_seconds` (0 measures the protocol
alone) and a successful Result. Many agents share one gRPC channel, so thousands of agents need
only a few TCP connections. Times are `time.monotonic()`, which is CLOCK_MONOTONIC on Linux and
so comparable between processes of one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc

from protos import agent_pb2, agent_pb2_grpc, common_pb2

logger = logging.getLogger(__name__)

AGENTS_PER_CHANNEL = 250
ENGINES = (("ae2026", "26.0x55"), ("ae2025", "25.0x26"))
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
]


@dataclass
class LeaseTimes:
    """Client-side times of one lease, in time.monotonic() seconds; 0 means not yet."""

    agent_id: str
    lease_id: str
    received: float
    result_sent: float = 0.0
    acked: float = 0.0


@dataclass
class SwarmStats:
    """Every lease the agents of a swarm received, by job id, and waiters for them."""

    leases: dict[str, LeaseTimes] = field(default_factory=dict)
    by_lease: dict[str, str] = field(default_factory=dict)
    waiters: dict[str, asyncio.Future[LeaseTimes]] = field(default_factory=dict)
    ack_waiters: dict[str, asyncio.Future[LeaseTimes]] = field(default_factory=dict)
    acked: int = 0
    cancels: int = 0
    reconnects: int = 0

    def record_lease(self, job_id: str, times: LeaseTimes) -> None:
        self.leases[job_id] = times
        self.by_lease[times.lease_id] = job_id
        waiter = self.waiters.pop(job_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(times)

    def record_ack(self, lease_id: str, now: float) -> None:
        job_id = self.by_lease.get(lease_id)
        if job_id is None:
            return
        times = self.leases[job_id]
        times.acked = now
        self.acked += 1
        waiter = self.ack_waiters.pop(job_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(times)

    async def lease_of(self, job_id: str) -> LeaseTimes:
        """Wait for the lease of a job; returns at once when it has arrived."""
        if job_id in self.leases:
            return self.leases[job_id]
        waiter = self.waiters.setdefault(job_id, asyncio.get_running_loop().create_future())
        return await waiter

    async def ack_of(self, job_id: str) -> LeaseTimes:
        """Wait for the Ack of the result of a job's lease."""
        times = self.leases.get(job_id)
        if times is not None and times.acked:
            return times
        waiter = self.ack_waiters.setdefault(job_id, asyncio.get_running_loop().create_future())
        return await waiter


class SimulatedAgent:
    """One agent: one Connect stream, its heartbeats and its leases."""

    def __init__(self, swarm: Swarm, agent_id: str, channel: grpc.aio.Channel) -> None:
        self.swarm = swarm
        self.agent_id = agent_id
        self.stub = agent_pb2_grpc.AgentServiceStub(channel)
        self.outbox: asyncio.Queue[agent_pb2.AgentMessage | None] = asyncio.Queue()
        self.running: dict[str, agent_pb2.RunningLease] = {}
        self.renders: dict[str, asyncio.Task[None]] = {}
        self.welcomed = asyncio.Event()
        self.heartbeat_interval = 5.0

    def hello(self) -> agent_pb2.Hello:
        engines = [
            agent_pb2.Engine(name=name, version=version, path="/bench/aerender", available=True)
            for name, version in ENGINES
        ]
        return agent_pb2.Hello(
            agent_id=self.agent_id,
            host="bench",
            version="bench",
            engines=engines,
            slots=self.swarm.slots,
        )

    async def _write(self, call: Any) -> None:
        """Send the Hello, then the outbox, until close() queues None or the stream ends."""
        try:
            await call.write(agent_pb2.AgentMessage(hello=self.hello()))
            while (message := await self.outbox.get()) is not None:
                await call.write(message)
            await call.done_writing()
        except (grpc.RpcError, asyncio.InvalidStateError, grpc.aio.UsageError):
            # The reader sees the stream's end and its status.
            return

    async def run(self) -> None:
        """Keep the stream open until close(); reconnect after a failure, as agents do."""
        while not self.swarm.stopping:
            try:
                await self._session()
                return
            except grpc.aio.AioRpcError as error:
                if self.swarm.stopping:
                    return
                self.swarm.stats.reconnects += 1
                logger.info(
                    "agent=%s stream failed: %s %s; reconnecting",
                    self.agent_id,
                    error.code(),
                    error.details(),
                )
            # Jitter spreads the reconnects of many agents.
            await asyncio.sleep(random.uniform(0.5, 1.5))

    async def _session(self) -> None:
        self.outbox = asyncio.Queue()
        if self.swarm.stopping:
            return
        # The write() and read() calls of the stream, not an async generator of requests:
        # grpc.aio closes such a generator from another task, which fails while it waits.
        call = self.stub.Connect()
        writer = asyncio.create_task(self._write(call))
        heartbeats: asyncio.Task[None] | None = None
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                kind = message.WhichOneof("body")
                if kind == "lease":
                    self._on_lease(message.lease)
                elif kind == "ack":
                    self.swarm.stats.record_ack(message.ack.lease_id, time.monotonic())
                elif kind == "welcome":
                    self.heartbeat_interval = message.welcome.heartbeat_interval_ms / 1000
                    heartbeats = asyncio.create_task(self._heartbeats())
                    self.welcomed.set()
                elif kind == "cancel":
                    self._on_cancel(message.cancel)
        finally:
            writer.cancel()
            if heartbeats is not None:
                heartbeats.cancel()
            for render in self.renders.values():
                render.cancel()
            self.renders.clear()
            self.running.clear()

    def close(self) -> None:
        self.outbox.put_nowait(None)

    async def _heartbeats(self) -> None:
        # A random first delay spreads the heartbeats of many agents over the interval.
        await asyncio.sleep(random.uniform(0, self.heartbeat_interval))
        while True:
            heartbeat = agent_pb2.Heartbeat(running=list(self.running.values()))
            self.outbox.put_nowait(agent_pb2.AgentMessage(heartbeat=heartbeat))
            await asyncio.sleep(self.heartbeat_interval)

    def _on_lease(self, lease: agent_pb2.Lease) -> None:
        times = LeaseTimes(self.agent_id, lease.lease_id, time.monotonic())
        self.swarm.stats.record_lease(lease.job_id, times)
        self.running[lease.lease_id] = agent_pb2.RunningLease(
            lease_id=lease.lease_id, job_id=lease.job_id, attempt=lease.attempt
        )
        self.renders[lease.lease_id] = asyncio.create_task(self._render(lease, times))

    def _on_cancel(self, cancel: agent_pb2.Cancel) -> None:
        self.swarm.stats.cancels += 1
        render = self.renders.get(cancel.lease_id)
        if render is not None:
            render.cancel()

    async def _render(self, lease: agent_pb2.Lease, times: LeaseTimes) -> None:
        swarm = self.swarm
        if swarm.send_progress:
            progress = agent_pb2.Progress(
                lease_id=lease.lease_id,
                job_id=lease.job_id,
                attempt=lease.attempt,
                stage=common_pb2.STAGE_RENDER,
                percent=0.0,
            )
            self.outbox.put_nowait(agent_pb2.AgentMessage(progress=progress))
        if swarm.render_seconds > 0:
            await asyncio.sleep(swarm.render_seconds)
        await swarm.released.wait()
        output = common_pb2.Output(
            url=f"file:///bench/outputs/{lease.job_id}.mp4", size=1, name="out.mp4"
        )
        result = agent_pb2.Result(
            result_id=uuid.uuid4().hex,
            lease_id=lease.lease_id,
            job_id=lease.job_id,
            attempt=lease.attempt,
            success=True,
            outputs=[output],
            render_seconds=swarm.render_seconds,
        )
        times.result_sent = time.monotonic()
        self.outbox.put_nowait(agent_pb2.AgentMessage(result=result))
        self.running.pop(lease.lease_id, None)
        self.renders.pop(lease.lease_id, None)


class Swarm:
    """Many simulated agents named `<prefix>-<number>`, sharing a few gRPC channels."""

    def __init__(
        self,
        address: str,
        count: int,
        prefix: str = "a",
        render_seconds: float = 0.0,
        slots: int = 1,
        send_progress: bool = True,
        agents_per_channel: int = AGENTS_PER_CHANNEL,
    ) -> None:
        self.address = address
        self.count = count
        self.prefix = prefix
        self.render_seconds = render_seconds
        self.slots = slots
        self.send_progress = send_progress
        self.agents_per_channel = agents_per_channel
        self.stats = SwarmStats()
        # Cleared, the agents hold each render's result until set() is called again.
        self.released = asyncio.Event()
        self.released.set()
        self.stopping = False
        self.agents: list[SimulatedAgent] = []
        self._channels: list[grpc.aio.Channel] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(
        self, timeout: float = 120.0, connect_rate: float = 2000.0, require_all: bool = True
    ) -> int:
        """Open every stream and wait for the Welcomes; connect_rate caps Hellos per second.

        Returns the number of agents that got a Welcome. With require_all, a missing Welcome
        after timeout raises TimeoutError.
        """
        width = len(str(max(self.count - 1, 1)))
        for number in range(self.count):
            if number % self.agents_per_channel == 0:
                channel = grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
                self._channels.append(channel)
            agent = SimulatedAgent(self, f"{self.prefix}-{number:0{width}d}", self._channels[-1])
            self.agents.append(agent)
            self._tasks.append(asyncio.create_task(agent.run()))
            if number % 100 == 99:
                await asyncio.sleep(100 / connect_rate)
        waits = [agent.welcomed.wait() for agent in self.agents]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            if require_all:
                raise
        return sum(agent.welcomed.is_set() for agent in self.agents)

    async def stop(self) -> None:
        self.stopping = True
        for agent in self.agents:
            agent.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 10)
        for task in self._tasks:
            task.cancel()
        for channel in self._channels:
            await channel.close()
