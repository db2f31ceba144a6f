"""Benchmarks of the controller's core paths, each against a fresh controller process.

Dispatch latency is measured in one process: the client notes time.monotonic() just before it
calls Submit, and the simulated agent notes it when the Lease message arrives on its stream.
So the figure contains parsing the job, its SQLite commit, the scheduler's dispatch and the
Lease's trip back, as a client of the JobService measures it. The Submit reply waits for an
fsync as well, which the Lease does not, so the Submit call itself takes longer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import grpc
import psutil

from bench.farm import WAIT_SECONDS, bench_farm
from bench.figures import Section, milliseconds, percentile
from bench.jobs import flat_job, nested_job, submit, submit_many
from bench.loadgen import Swarm

logger = logging.getLogger(__name__)

WARMUP_JOBS = 10


async def dispatch_latency(root: Path, samples: int, agents: int = 100) -> Section:
    """Queued to leased, one job at a time, with `agents` idle agents."""
    section = Section("dispatch latency", {"agents": agents, "samples": samples})
    async with bench_farm(root / "dispatch", agents) as farm:
        latencies: list[float] = []
        rpc: list[float] = []
        for index in range(WARMUP_JOBS + samples):
            started, lease, rpc_seconds = await farm.run_one(flat_job(index))
            if index >= WARMUP_JOBS:
                latencies.append(lease.received - started)
                rpc.append(rpc_seconds)
    values = milliseconds(latencies)
    section.add("p50", percentile(values, 0.5), "ms", at_most=2)
    section.add("p99", percentile(values, 0.99), "ms", at_most=10)
    section.add("max", max(values), "ms")
    section.add("Submit call p50", percentile(milliseconds(rpc), 0.5), "ms")
    section.series["latency_ms"] = values
    return section


async def parent_promotion(root: Path, samples: int) -> Section:
    """Last child's result acknowledged, to the parent's lease at an idle agent."""
    section = Section("parent promotion", {"agents": 8, "parents": samples, "children": 3})
    from_ack: list[float] = []
    from_result: list[float] = []
    async with bench_farm(root / "promotion", 8) as farm:
        stats = farm.swarm.stats
        for index in range(WARMUP_JOBS + samples):
            response = await submit(farm.jobs, nested_job(index))
            children = [child.id for child in response.children]
            for child_id in children:
                await asyncio.wait_for(stats.ack_of(child_id), WAIT_SECONDS)
            parent = await asyncio.wait_for(stats.lease_of(response.job.id), WAIT_SECONDS)
            await asyncio.wait_for(stats.ack_of(response.job.id), WAIT_SECONDS)
            if index < WARMUP_JOBS:
                continue
            last_ack = max(stats.leases[child_id].acked for child_id in children)
            last_result = max(stats.leases[child_id].result_sent for child_id in children)
            from_ack.append(parent.received - last_ack)
            from_result.append(parent.received - last_result)
    section.add("p50 from last Ack", percentile(milliseconds(from_ack), 0.5), "ms")
    section.add("p99 from last Ack", percentile(milliseconds(from_ack), 0.99), "ms", at_most=20)
    section.add("p99 from last Result sent", percentile(milliseconds(from_result), 0.99), "ms")
    section.notes.append(
        "The controller queues the Ack and the parent's Lease in the same event, on two "
        "streams, so the Lease can arrive just before the Ack: values near 0 or below are real."
    )
    section.series["from_ack_ms"] = milliseconds(from_ack)
    return section


async def throughput(root: Path, jobs: int, agents: int = 50, backlog: int = 200) -> Section:
    """Zero-time renders while 8 submitters keep about `backlog` jobs queued or running."""
    section = Section(
        "throughput",
        {"jobs": jobs, "agents": agents, "backlog": backlog, "submitters": 8, "render_seconds": 0},
    )
    async with bench_farm(root / "throughput", agents) as farm:
        stats = farm.swarm.stats
        submitted = 0

        async def feed() -> None:
            nonlocal submitted
            while submitted < jobs:
                if submitted - stats.acked >= backlog:
                    await asyncio.sleep(0.001)
                    continue
                submitted += 1
                await submit(farm.jobs, flat_job(submitted))

        me = psutil.Process()
        own_cpu = sum(me.cpu_times()[:2])
        controller_cpu, _ = farm.controller.usage()
        started = time.monotonic()
        await asyncio.gather(*(feed() for _ in range(8)))
        deadline = time.monotonic() + WAIT_SECONDS
        while stats.acked < jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        seconds = max(times.acked for times in stats.leases.values()) - started
        controller_used = farm.controller.usage()[0] - controller_cpu
        own_used = sum(me.cpu_times()[:2]) - own_cpu
    section.add("finished jobs per second", stats.acked / seconds, "jobs/s", at_least=1000)
    section.add("controller CPU", 100 * controller_used / seconds, "% of a core")
    section.add("load generator CPU", 100 * own_used / seconds, "% of a core")
    section.notes.append(
        "each job costs the controller a Submit call, a lease grant, a Progress and a Result; "
        "their store writes share commits and syncs with other events"
    )
    return section


async def queue_drain(root: Path, jobs: int, agents: int = 50) -> Section:
    """Zero-time renders drained from a queue of `jobs` by `agents` agents."""
    section = Section("queue drain", {"jobs": jobs, "agents": agents, "render_seconds": 0})
    async with bench_farm(root / "drain", agents, connect=False) as farm:
        submit_seconds, _ = await submit_many(farm.jobs, [flat_job(i) for i in range(jobs)])
        me = psutil.Process()
        own_cpu = sum(me.cpu_times()[:2])
        controller_cpu, _ = farm.controller.usage()
        await farm.swarm.start()
        stats = farm.swarm.stats
        deadline = time.monotonic() + WAIT_SECONDS + jobs / 100
        while stats.acked < jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        controller_used = farm.controller.usage()[0] - controller_cpu
        own_used = sum(me.cpu_times()[:2]) - own_cpu
    first = min(times.received for times in stats.leases.values())
    last = max(times.acked for times in stats.leases.values())
    seconds = last - first
    section.add("finished jobs per second", stats.acked / seconds, "jobs/s")
    section.add("controller CPU", 100 * controller_used / seconds, "% of a core")
    section.add("load generator CPU", 100 * own_used / seconds, "% of a core")
    section.add("queueing by parallel Submit", jobs / submit_seconds, "jobs/s")
    if stats.acked < jobs:
        section.notes.append(f"only {stats.acked} of {jobs} jobs finished before the deadline")
    return section


async def batch_submit(root: Path, parents: int, concurrency: int = 16) -> Section:
    """Submit `parents` parents with 3 children each: one SubmitBatch, else parallel Submit."""
    jobs = parents * 4
    section = Section("batch submit", {"parents": parents, "children": 3, "jobs": jobs})
    trees = [nested_job(i) for i in range(parents)]
    async with bench_farm(root / "batch", 0, connect=False) as farm:
        try:
            seconds = await _submit_batch(farm.channel, trees)
            section.notes.append(
                f"one BatchService.SubmitBatch call of {parents} job trees, stored in one "
                "synced SQLite transaction"
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.UNIMPLEMENTED:
                raise
            seconds, _ = await submit_many(farm.jobs, trees, concurrency)
            section.notes.append(
                f"the controller has no BatchService, so the batch is {parents} Submit calls, "
                f"{concurrency} in flight at a time, each a synced SQLite transaction"
            )
    section.add(f"seconds for {jobs} jobs", seconds, "s", at_most=5 * jobs / 10_000)
    section.add("jobs per second", jobs / seconds, "jobs/s")
    return section


async def _submit_batch(channel: grpc.aio.Channel, trees: list[dict[str, Any]]) -> float:
    from protos import batches_pb2, batches_pb2_grpc

    request = batches_pb2.SubmitBatchRequest(
        job_json=[json.dumps(tree) for tree in trees], source="bench"
    )
    started = time.monotonic()
    await batches_pb2_grpc.BatchServiceStub(channel).SubmitBatch(request, timeout=300)
    return time.monotonic() - started


async def farm_efficiency(root: Path, jobs: int, render_seconds: float, agents: int = 8) -> Section:
    """Makespan of `jobs` renders of render_seconds on `agents` agents, against the ideal."""
    section = Section(
        "farm efficiency", {"jobs": jobs, "agents": agents, "render_seconds": render_seconds}
    )
    async with bench_farm(root / "efficiency", agents, render_seconds=render_seconds) as farm:
        swarm: Swarm = farm.swarm
        started = time.monotonic()
        await submit_many(farm.jobs, [flat_job(i) for i in range(jobs)], concurrency=8)
        deadline = started + 3 * jobs * render_seconds / agents + WAIT_SECONDS
        while swarm.stats.acked < jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        makespan = max(times.acked for times in swarm.stats.leases.values()) - started
    ideal = jobs * render_seconds / agents
    section.add("makespan", makespan, "s")
    section.add("ideal", ideal, "s")
    section.add("makespan / ideal", makespan / ideal, "x", at_most=1.05)
    return section
