"""A benchmark farm: one real controller process, simulated agents, and a JobService client."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from bench.controller_proc import ControllerProcess
from bench.jobs import job_service, submit
from bench.loadgen import LeaseTimes, Swarm
from protos import jobs_pb2_grpc

logger = logging.getLogger(__name__)

# Seconds a benchmark waits for one lease or Ack before it counts the run as broken.
WAIT_SECONDS = 30.0


@dataclass
class BenchFarm:
    controller: ControllerProcess
    swarm: Swarm
    channel: grpc.aio.Channel
    jobs: jobs_pb2_grpc.JobServiceStub
    farm: jobs_pb2_grpc.FarmServiceStub

    async def run_one(self, job: dict[str, Any]) -> tuple[float, LeaseTimes, float]:
        """Submit a job and wait for its lease and Ack; return (submit start, lease, RPC s)."""
        started = time.monotonic()
        response = await submit(self.jobs, job)
        rpc_seconds = time.monotonic() - started
        stats = self.swarm.stats
        lease = await asyncio.wait_for(stats.lease_of(response.job.id), WAIT_SECONDS)
        await asyncio.wait_for(stats.ack_of(response.job.id), WAIT_SECONDS)
        return started, lease, rpc_seconds


@asynccontextmanager
async def bench_farm(
    data_dir: Path,
    agents: int,
    render_seconds: float = 0.0,
    heartbeat_interval: float = 5.0,
    prefix: str = "a",
    connect: bool = True,
) -> AsyncIterator[BenchFarm]:
    """Start a controller on data_dir and a swarm of agents; stop both on exit.

    With connect=False the swarm is created but not started, so jobs can be queued first.
    """
    controller = ControllerProcess(data_dir, heartbeat_interval=heartbeat_interval)
    address = controller.start()
    swarm = Swarm(address, agents, prefix=prefix, render_seconds=render_seconds)
    # A SubmitBatch reply lists every root job with its spec: 2,500 jobs take about 9 MB.
    channel = grpc.aio.insecure_channel(
        address, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    )
    try:
        if connect and agents:
            await swarm.start()
        yield BenchFarm(
            controller, swarm, channel, job_service(channel), jobs_pb2_grpc.FarmServiceStub(channel)
        )
    finally:
        await swarm.stop()
        await channel.close()
        controller.stop()
