"""A real agent process with --simulate: its overhead around aerender and its memory.

The agent logs with millisecond times. The overhead before the render runs from the agent's
`lease started` line to the `started ... tree token` line that agent.render_process logs once
the aerender process runs. The overhead after it runs from that module's `exited with code`
line to `result ... was accepted`, logged when the controller's Ack arrives. The template is
served from the controller's artifact store, and the first job puts it into the agent's cache,
so the figures come from the later jobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import grpc
import psutil

from bench.controller_proc import TOP, ControllerProcess
from bench.figures import Section, milliseconds, percentile
from bench.jobs import submit
from protos import artifacts_pb2, artifacts_pb2_grpc, common_pb2, jobs_pb2, jobs_pb2_grpc

logger = logging.getLogger(__name__)

TEMPLATE = TOP / "examples" / "templates" / "lower-third.aep"
LINE_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
# Log texts that mark the steps of a lease, and the name of each mark.
MARKS = {
    ": lease started in ": "lease",
    " tree token ": "aerender_start",
    " exited with code ": "aerender_exit",
    " was accepted": "acked",
}
FINAL = {common_pb2.JOB_STATE_FINISHED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED}


def simulated_job(
    template_src: str, index: int, frames: tuple[int, int] = (0, 9)
) -> dict[str, object]:
    return {
        "template": {"src": template_src, "composition": "LowerThird"},
        "assets": [
            {"type": "data", "layerName": "Title", "property": "Source Text", "value": f"{index}"}
        ],
        "settings": {"engine": "ae2026", "frames": list(frames), "codec": "video_h264_vbr_15mbps"},
    }


def start_agent(address: str, work_dir: Path, agent_id: str) -> subprocess.Popen[bytes]:
    work_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "agent.main", "--controller", address, "--simulate"]
    argv += ["--work-dir", str(work_dir), "--agent-id", agent_id]
    argv += ["--file-root", str(TEMPLATE.parent)]
    log = open(work_dir.parent / f"{agent_id}.log", "ab")  # noqa: SIM115 - the child keeps it
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(argv, cwd=TOP, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    return process


def marks_by_job(log_text: str) -> dict[str, dict[str, float]]:
    """Collect the times of the marked agent log lines, by job id."""
    found: dict[str, dict[str, float]] = {}
    for line in log_text.splitlines():
        stamp = LINE_TIME.match(line)
        job = re.search(r"job=(\w+)", line)
        if stamp is None or job is None:
            continue
        for text, mark in MARKS.items():
            if text in line:
                at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found.setdefault(job.group(1), {}).setdefault(mark, at)
    return found


async def _upload_template(channel: grpc.aio.Channel) -> str:
    """Store the template in the artifact store, so the agent's cache keeps it between jobs."""
    data = TEMPLATE.read_bytes()
    header = artifacts_pb2.UploadHeader(
        name=TEMPLATE.name, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    chunks = [artifacts_pb2.UploadChunk(header=header), artifacts_pb2.UploadChunk(data=data)]
    stub = artifacts_pb2_grpc.ArtifactServiceStub(channel)
    ref = await stub.Upload(iter(chunks), timeout=30)
    return str(ref.url)


async def _wait_final(stub: jobs_pb2_grpc.JobServiceStub, job_id: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await stub.GetJob(jobs_pb2.GetJobRequest(id=job_id), timeout=10)
        if job.state in FINAL:
            return int(job.state)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"job {job_id} was not final after {timeout} s")


async def _wait_connected(stub: jobs_pb2_grpc.FarmServiceStub, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        agents = await stub.ListAgents(jobs_pb2.ListAgentsRequest(), timeout=10)
        if any(agent.state == "connected" for agent in agents.agents):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the agent did not connect within {timeout} s")


async def agent_overhead(root: Path, jobs: int) -> Section:
    """Run jobs one at a time on one real agent; take overhead and memory from the later ones."""
    section = Section("agent", {"jobs": jobs, "frames": "0-9", "template": TEMPLATE.name})
    if not TEMPLATE.exists():
        section.notes.append(
            f"skipped: {TEMPLATE} is missing; build it with examples/make_templates.py"
        )
        return section
    controller = ControllerProcess(root / "agent-controller")
    address = controller.start()
    agent = start_agent(address, root / "agent" / "work", "bench-agent")
    peak_rss = 0
    try:
        handle = psutil.Process(agent.pid)
        async with grpc.aio.insecure_channel(address) as channel:
            await _wait_connected(jobs_pb2_grpc.FarmServiceStub(channel))
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            template_src = await _upload_template(channel)
            ids = []
            for index in range(jobs):
                response = await submit(stub, simulated_job(template_src, index))
                ids.append(response.job.id)
                waiter = asyncio.create_task(_wait_final(stub, response.job.id, 120))
                while not waiter.done():
                    if index > 0:
                        peak_rss = max(peak_rss, handle.memory_info().rss)
                    await asyncio.sleep(0.02)
                await waiter
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        controller.stop()
    marks = marks_by_job((root / "agent" / "bench-agent.log").read_text(errors="replace"))
    before = [marks[j]["aerender_start"] - marks[j]["lease"] for j in ids[1:] if _whole(marks, j)]
    after = [marks[j]["acked"] - marks[j]["aerender_exit"] for j in ids[1:] if _whole(marks, j)]
    if not before:
        section.notes.append("no job of the run logged all four marks; see the agent log")
        return section
    section.add("lease to aerender start, p50", percentile(milliseconds(before), 0.5), "ms")
    section.add("lease to aerender start, max", max(milliseconds(before)), "ms", at_most=100)
    section.add("aerender exit to Ack, p50", percentile(milliseconds(after), 0.5), "ms")
    section.add("aerender exit to Ack, max", max(milliseconds(after)), "ms", at_most=100)
    section.add("agent RSS while rendering, peak", peak_rss / 1024 / 1024, "MiB", at_most=80)
    section.series["marks"] = json.loads(json.dumps({j: marks.get(j, {}) for j in ids}))
    return section


def _whole(marks: dict[str, dict[str, float]], job_id: str) -> bool:
    return len(marks.get(job_id, {})) == len(MARKS)
