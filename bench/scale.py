"""Growth of one controller's dispatch latency, CPU and memory with agents and stored jobs.

Probe agents (`a-...`) run in the measuring process; the rest of the agents (`b...`) run in
swarm_worker processes. Among idle agents the scheduler picks the lowest agent id, so every
probe job goes to a probe agent and its latency is measured with one clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

from bench.controller_proc import UsageWindow
from bench.farm import BenchFarm, bench_farm
from bench.figures import Section, milliseconds, percentile
from bench.jobs import flat_job
from bench.swarm_worker import SwarmProcess
from protos import jobs_pb2

logger = logging.getLogger(__name__)

PROBE_AGENTS = 10
AGENTS_PER_PROCESS = 2500
MIB = 1024 * 1024


async def _dispatch_samples(farm: BenchFarm, samples: int) -> list[float]:
    latencies = []
    for index in range(samples + 5):
        started, lease, _ = await farm.run_one(flat_job(index))
        if index >= 5:
            latencies.append(lease.received - started)
    return milliseconds(latencies)


async def _rest_usage(farm: BenchFarm, seconds: float) -> tuple[float, int]:
    window = UsageWindow(farm.controller)
    window.start()
    await asyncio.sleep(seconds)
    usage = window.stop()
    return usage.cpu_percent, usage.rss_bytes


async def scale_agents(root: Path, levels: list[int], samples: int, rest_seconds: float) -> Section:
    """Connected agents against dispatch latency, CPU at rest and resident memory."""
    section = Section(
        "agents",
        {"levels": levels, "samples": samples, "rest_seconds": rest_seconds, "heartbeat_s": 5},
    )
    rows = []
    workers: list[SwarmProcess] = []
    # One heartbeat interval lets the random first heartbeats of new agents begin.
    settle_seconds = 5.0 if rest_seconds >= 5 else 1.0
    async with bench_farm(root / "agents", min(PROBE_AGENTS, levels[0])) as farm:
        connected = farm.swarm.count
        try:
            for level in levels:
                connect_started = time.monotonic()
                while connected < level:
                    count = min(level - connected, AGENTS_PER_PROCESS)
                    worker = SwarmProcess(farm.controller.address, count, f"b{len(workers):02d}")
                    workers.append(worker)
                    await asyncio.to_thread(worker.wait_ready)
                    connected += count
                connect_seconds = time.monotonic() - connect_started
                await asyncio.sleep(settle_seconds)
                cpu, rss = await _rest_usage(farm, rest_seconds)
                latencies = await _dispatch_samples(farm, samples)
                listed = await farm.farm.ListAgents(jobs_pb2.ListAgentsRequest(), timeout=60)
                streams = sum(agent.state == "connected" for agent in listed.agents)
                row = {
                    "agents": level,
                    "cpu_percent": cpu,
                    "rss_mib": rss / MIB,
                    "p50_ms": percentile(latencies, 0.5),
                    "p99_ms": percentile(latencies, 0.99),
                    "connect_seconds": connect_seconds,
                    "reconnects": sum(worker.reconnects for worker in workers),
                    "connected_after": streams,
                }
                logger.info("agents %s", row)
                rows.append(row)
        finally:
            for worker in workers:
                await asyncio.to_thread(worker.stop)
    section.series["rows"] = rows
    top = rows[-1]
    if top["connected_after"] < top["agents"]:
        section.notes.append(
            f"of {top['agents']} agents, {top['connected_after']} had an open stream after the "
            f"measurement; {top['reconnects']} streams failed and were opened again"
        )
    if top["agents"] >= 5000:
        section.add(f"RSS at {top['agents']} agents", top["rss_mib"], "MiB", at_most=1024)
        section.add(f"CPU at rest, {top['agents']} agents", top["cpu_percent"], "%", at_most=50)
        section.add(f"dispatch p99, {top['agents']} agents", top["p99_ms"], "ms", at_most=20)
    else:
        section.add(f"RSS at {top['agents']} agents", top["rss_mib"], "MiB")
        section.add(f"CPU at rest, {top['agents']} agents", top["cpu_percent"], "%")
        section.add(f"dispatch p99, {top['agents']} agents", top["p99_ms"], "ms")
    return section


def seed_finished_jobs(data_dir: Path, count: int) -> float:
    """Write count finished one-job trees straight into the store; return the seconds taken.

    Each job gets the rows a real run leaves: the job, four transitions, a completed lease and
    an applied result. The controller must not be running on data_dir meanwhile.
    """
    import json

    from controller.jobtree import build_job_tree
    from controller.scheduler_types import (
        JobState,
        LeaseRecord,
        LeaseState,
        OutputInfo,
        Stage,
        Transition,
    )
    from controller.sqlite_store import SqliteStore
    from controller.validation import validate_job

    data_dir.mkdir(parents=True, exist_ok=True)
    spec = validate_job(json.dumps(flat_job()))
    started = time.monotonic()
    store = SqliteStore(data_dir / "aefarm.db")
    now = time.time() - 3600
    try:
        with store.transaction():
            for _ in range(count):
                tree = build_job_tree(spec, now, lambda: uuid.uuid4().hex, "bench seed")
                job = tree.jobs[0]
                lease_id = uuid.uuid4().hex
                job.state, job.attempts, job.progress = JobState.FINISHED, 1, 100.0
                job.outputs = [OutputInfo(f"file:///bench/outputs/{job.id}.mp4", 1, "", "o.mp4")]
                store.insert_job(job)
                for state, stage in (
                    (JobState.QUEUED, Stage.NONE),
                    (JobState.LEASED, Stage.NONE),
                    (JobState.RENDERING, Stage.RENDER),
                    (JobState.FINISHED, Stage.NONE),
                ):
                    store.insert_transition(job.id, Transition(state, stage, now, "seed", 1, "s"))
                store.save_lease(
                    LeaseRecord(lease_id, job.id, 1, "seed", LeaseState.COMPLETED, now, now, now)
                )
                store.insert_applied_result(uuid.uuid4().hex, lease_id, job.id, now)
    finally:
        store.close()
    return time.monotonic() - started


async def stored_jobs(root: Path, levels: list[int], samples: int, rest_seconds: float) -> Section:
    """Finished jobs in the store against dispatch latency, start time, CPU and memory."""
    section = Section("stored jobs", {"levels": levels, "agents": 100, "samples": samples})
    data_dir = root / "stored"
    rows = []
    seeded = 0
    for level in levels:
        seed_seconds = await asyncio.to_thread(seed_finished_jobs, data_dir, level - seeded)
        seeded = level
        started = time.monotonic()
        async with bench_farm(data_dir, 100) as farm:
            start_seconds = time.monotonic() - started
            cpu, rss = await _rest_usage(farm, rest_seconds)
            latencies = await _dispatch_samples(farm, samples)
        row = {
            "stored_jobs": level,
            "seed_seconds": seed_seconds,
            "start_seconds": start_seconds,
            "cpu_percent": cpu,
            "rss_mib": rss / MIB,
            "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99),
        }
        logger.info("stored jobs %s", row)
        rows.append(row)
    section.series["rows"] = rows
    first, last = rows[0], rows[-1]
    section.add(f"dispatch p50, {first['stored_jobs']} stored jobs", first["p50_ms"], "ms")
    section.add(f"dispatch p50, {last['stored_jobs']} stored jobs", last["p50_ms"], "ms")
    section.add(f"dispatch p99, {last['stored_jobs']} stored jobs", last["p99_ms"], "ms")
    section.add(f"RSS, {last['stored_jobs']} stored jobs", last["rss_mib"], "MiB")
    return section
