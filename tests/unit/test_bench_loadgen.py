"""The benchmark's load generator speaks AgentService.Connect to a real controller process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from bench.agent_bench import marks_by_job
from bench.controller_proc import ControllerProcess
from bench.figures import Section, percentile
from bench.jobs import flat_job, job_service, nested_job, submit
from bench.loadgen import Swarm
from bench.report import table
from protos import common_pb2, jobs_pb2

WAIT = 20.0


async def _run_jobs(address: str) -> tuple[jobs_pb2.Job, jobs_pb2.Job, Swarm]:
    swarm = Swarm(address, 3)
    await swarm.start(timeout=WAIT)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = job_service(channel)
            flat = await submit(stub, flat_job(1))
            await asyncio.wait_for(swarm.stats.ack_of(flat.job.id), WAIT)
            nested = await submit(stub, nested_job(2))
            await asyncio.wait_for(swarm.stats.ack_of(nested.job.id), WAIT)
            flat_after = await stub.GetJob(jobs_pb2.GetJobRequest(id=flat.job.id), timeout=WAIT)
            parent_after = await stub.GetJob(jobs_pb2.GetJobRequest(id=nested.job.id), timeout=WAIT)
    finally:
        await swarm.stop()
    return flat_after, parent_after, swarm


def test_swarm_finishes_flat_and_nested_jobs(tmp_path: Path) -> None:
    controller = ControllerProcess(tmp_path / "controller", heartbeat_interval=0.5, lease_grace=5)
    address = controller.start()
    try:
        flat, parent, swarm = asyncio.run(_run_jobs(address))
    finally:
        controller.stop()

    assert flat.state == common_pb2.JOB_STATE_FINISHED
    assert flat.outputs[0].url == f"file:///bench/outputs/{flat.id}.mp4"
    assert parent.state == common_pb2.JOB_STATE_FINISHED
    assert len(parent.child_ids) == 3
    for child_id in parent.child_ids:
        assert swarm.stats.leases[child_id].acked > 0
    parent_lease = swarm.stats.leases[parent.id]
    last_child_result = max(swarm.stats.leases[child].result_sent for child in parent.child_ids)
    assert parent_lease.received > last_child_result
    assert swarm.stats.acked == 5


def test_agent_log_marks_by_job() -> None:
    prefix = "job=abc lease=l1 attempt=1 agent=x: "
    log = "\n".join(
        [
            f"2026-01-02 03:04:05,100 INFO agent.leases: {prefix}lease started in /w: render job",
            f"2026-01-02 03:04:05,150 INFO agent.render_process: {prefix}started sim pid 7 in /w, "
            "tree token t",
            f"2026-01-02 03:04:06,000 INFO agent.render_process: {prefix}sim pid 7 exited with "
            "code 0 after 0.8 s",
            f"2026-01-02 03:04:06,040 INFO agent.leases: {prefix}result r1 of lease l1 was "
            "accepted",
            "2026-01-02 03:04:07,000 INFO agent.daemon: agent x stopped",
        ]
    )

    marks = marks_by_job(log)

    assert set(marks) == {"abc"}
    assert round(marks["abc"]["aerender_start"] - marks["abc"]["lease"], 3) == 0.05
    assert round(marks["abc"]["acked"] - marks["abc"]["aerender_exit"], 3) == 0.04


def test_table_marks_missed_target() -> None:
    section = Section("throughput")
    section.add("finished jobs per second", 345.0, "jobs/s", at_least=1000)
    section.add("p99", 4.0, "ms", at_most=10)

    lines = table([section]).splitlines()

    assert "MISSED" in lines[1]
    assert lines[2].rstrip().endswith("met")


def test_percentile_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]

    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
