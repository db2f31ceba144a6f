"""aefarm and nexrender side by side: the same jobs, the same aerender simulator, four workers.

Both systems are watched the same way: the benchmark polls each job's state every 10 ms
(GetJob for aefarm, GET /jobs/:uid/status for nexrender). Pickup latency is the time from the
submit call to the first state that is not queued. Throughput is jobs divided by the time from
the first submit to the last final state. A 2 s render is the shortest render plus the
simulator's `slow:0.2` fault on its 10 frames.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from bench.agent_bench import TEMPLATE
from bench.controller_proc import TOP, ControllerProcess
from bench.figures import Section, percentile
from bench.nexrender import NexrenderFarm, NexrenderUnavailable, nexrender_job
from protos import common_pb2, jobs_pb2, jobs_pb2_grpc

logger = logging.getLogger(__name__)

WORKERS = 4
POLL_SECONDS = 0.01
NEXRENDER_POLLING_MS = 1000
SLOW_FAULT = "slow:0.2"
# The killed-worker case renders 10 frames of 1 s each and kills the worker about 4 s in.
KILL_FAULT = "slow:1.0"
# Seconds the killed-worker case watches the job after the kill.
KILL_WATCH_SECONDS = 40.0
AEFARM_FINAL = {"finished", "failed", "cancelled"}
NEXRENDER_FINAL = {"finished", "error"}
# The states of both systems after queued: aefarm's, then nexrender's job states.
NOT_QUEUED = {
    *("leased", "rendering", "finished", "failed", "cancelled"),
    *("picked", "started", "error", "render:setup", "render:predownload", "render:download"),
    *("render:postdownload", "render:prerender", "render:script", "render:dorender"),
    *("render:postrender", "render:cleanup"),
}


def aefarm_job(index: int) -> dict[str, Any]:
    """Build the nexrender job without `template.name`, which aefarm's parser rejects."""
    job = copy.deepcopy(nexrender_job(TEMPLATE, index))
    del job["template"]["name"]
    return job


class AefarmSide:
    """A controller process and real agent processes with --simulate."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.controller = ControllerProcess(
            root / "controller", heartbeat_interval=1, lease_grace=5
        )
        self.agents: list[subprocess.Popen[bytes]] = []
        self.channel: grpc.Channel | None = None
        self.stub: jobs_pb2_grpc.JobServiceStub | None = None

    def start(self) -> None:
        address = self.controller.start()
        self.channel = grpc.insecure_channel(address)
        self.stub = jobs_pb2_grpc.JobServiceStub(self.channel)

    def start_agent(self, number: int, faults: str = "") -> None:
        work_dir = self.root / "agents" / f"{number}-{len(self.agents)}"
        work_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "agent.main", "--controller", self.controller.address]
        argv += ["--simulate", "--work-dir", str(work_dir), "--agent-id", f"peer-{number}"]
        argv += ["--file-root", str(TEMPLATE.parent)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AEFARM_SIM_FAULTS": faults}
        log = open(work_dir / "agent.log", "ab")  # noqa: SIM115 - the child keeps it
        self.agents.append(
            subprocess.Popen(argv, cwd=TOP, env=env, stdout=log, stderr=subprocess.STDOUT)
        )
        log.close()

    def wait_agents(self, count: int, timeout: float = 60) -> None:
        farm = jobs_pb2_grpc.FarmServiceStub(self.channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            agents = farm.ListAgents(jobs_pb2.ListAgentsRequest(), timeout=10).agents
            if sum(agent.state == "connected" for agent in agents) >= count:
                return
            time.sleep(0.1)
        raise TimeoutError(f"{count} agents did not connect within {timeout} s")

    def kill_agent(self, index: int) -> None:
        """SIGKILL one agent process alone, as a crashed render box would lose it."""
        self.agents[index].kill()
        self.agents[index].wait()

    def stop_agents(self) -> None:
        for agent in self.agents:
            if agent.poll() is None:
                agent.terminate()
        for agent in self.agents:
            try:
                agent.wait(timeout=20)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        self.agents = []

    def stop(self) -> None:
        self.stop_agents()
        if self.channel is not None:
            self.channel.close()
        self.controller.stop()

    def submit(self, job: dict[str, Any]) -> str:
        assert self.stub is not None
        request = jobs_pb2.SubmitRequest(job_json=json.dumps(job), source="bench peer")
        return str(self.stub.Submit(request, timeout=30).job.id)

    def state(self, job_id: str) -> str:
        assert self.stub is not None
        job = self.stub.GetJob(jobs_pb2.GetJobRequest(id=job_id), timeout=10)
        return common_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()


def _wait_state(
    state: Callable[[str], str], job_id: str, done: set[str], timeout: float
) -> tuple[str, float]:
    """Poll a job until its state is in done; return it and the time.monotonic() it was seen."""
    deadline = time.monotonic() + timeout
    current = state(job_id)
    while current not in done and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        current = state(job_id)
    return current, time.monotonic()


def _pickup(submit: Callable[[int], str], state: Callable[[str], str], jobs: int) -> list[float]:
    latencies = []
    for index in range(jobs):
        started = time.monotonic()
        job_id = submit(index)
        _, seen = _wait_state(state, job_id, NOT_QUEUED, 60)
        latencies.append(seen - started)
        _wait_state(state, job_id, AEFARM_FINAL | NEXRENDER_FINAL, 120)
    return latencies


def _throughput(submit: Callable[[int], str], state: Callable[[str], str], jobs: int) -> float:
    started = time.monotonic()
    ids = [submit(index) for index in range(jobs)]
    final = AEFARM_FINAL | NEXRENDER_FINAL
    pending = set(ids)
    deadline = started + 600
    while pending and time.monotonic() < deadline:
        pending = {job_id for job_id in pending if state(job_id) not in final}
        time.sleep(0.05)
    return jobs / (time.monotonic() - started)


def _killed(
    submit: Callable[[int], str],
    state: Callable[[str], str],
    kill_first: Callable[[], None],
    start_second: Callable[[], None],
) -> tuple[str, float]:
    """Kill the only worker mid-render with a second one ready; return the final state seen."""
    job_id = submit(0)
    running = {"rendering", "started", "render:dorender", "render:setup", "render:download"}
    _wait_state(state, job_id, running, 60)
    time.sleep(1.0)
    start_second()
    time.sleep(3.0)
    killed_at = time.monotonic()
    kill_first()
    current, seen = _wait_state(state, job_id, AEFARM_FINAL | NEXRENDER_FINAL, KILL_WATCH_SECONDS)
    return current, seen - killed_at


def run_aefarm(root: Path, pickups: int, zero_jobs: int, slow_jobs: int) -> dict[str, Any]:
    side = AefarmSide(root / "aefarm")
    side.start()
    results: dict[str, Any] = {}
    try:
        submit = lambda index: side.submit(aefarm_job(index))  # noqa: E731
        for faults, key, jobs in (("", "zero", zero_jobs), (SLOW_FAULT, "slow", slow_jobs)):
            for number in range(WORKERS):
                side.start_agent(number, faults)
            side.wait_agents(WORKERS)
            if key == "zero":
                results["pickup"] = _pickup(submit, side.state, pickups)
            results[f"throughput_{key}"] = _throughput(submit, side.state, jobs)
            side.stop_agents()
        side.start_agent(0, KILL_FAULT)
        side.wait_agents(1)
        results["killed"] = _killed(
            submit,
            side.state,
            lambda: side.kill_agent(0),
            lambda: side.start_agent(1, KILL_FAULT),
        )
    finally:
        side.stop()
    return results


def run_nexrender(folder: Path, pickups: int, zero_jobs: int, slow_jobs: int) -> dict[str, Any]:
    farm = NexrenderFarm(folder, NEXRENDER_POLLING_MS)
    farm.install()
    results: dict[str, Any] = {"versions": farm.versions}
    submit = lambda index: farm.submit(nexrender_job(TEMPLATE, index))  # noqa: E731
    try:
        for faults, key, jobs in (("", "zero", zero_jobs), (SLOW_FAULT, "slow", slow_jobs)):
            farm.start(WORKERS, faults)
            if key == "zero":
                results["pickup"] = _pickup(submit, farm.state, pickups)
            results[f"throughput_{key}"] = _throughput(submit, farm.state, jobs)
            farm.stop()
        farm.start(1, KILL_FAULT)
        results["killed"] = _killed(
            submit,
            farm.state,
            lambda: farm.kill_worker(0),
            lambda: farm.start_worker(1, KILL_FAULT),
        )
    finally:
        farm.stop()
    return results


def peer_nexrender(root: Path, pickups: int, zero_jobs: int, slow_jobs: int) -> Section:
    """Run both systems and state each result of nexrender against aefarm's as a ratio."""
    section = Section(
        "peer nexrender",
        {
            "workers": WORKERS,
            "pickup_jobs": pickups,
            "zero_jobs": zero_jobs,
            "slow_jobs": slow_jobs,
            "nexrender_polling_ms": NEXRENDER_POLLING_MS,
            "aefarm_heartbeat_s": 1,
            "aefarm_lease_grace_s": 5,
        },
    )
    try:
        nexrender = run_nexrender(root / "nexrender", pickups, zero_jobs, slow_jobs)
    except NexrenderUnavailable as error:
        section.notes.append(f"skipped: nexrender is not available: {error}")
        return section
    section.parameters["nexrender_versions"] = nexrender.pop("versions")
    aefarm = run_aefarm(root, pickups, zero_jobs, slow_jobs)
    section.series = {"aefarm": aefarm, "nexrender": nexrender}

    aefarm_pickup = percentile(aefarm["pickup"], 0.5) * 1000
    nexrender_pickup = percentile(nexrender["pickup"], 0.5) * 1000
    section.add("aefarm pickup p50", aefarm_pickup, "ms")
    section.add("nexrender pickup p50", nexrender_pickup, "ms")
    section.add("pickup, nexrender / aefarm", nexrender_pickup / aefarm_pickup, "x")
    for key, label in (("zero", "shortest render"), ("slow", "2 s render")):
        ours, theirs = aefarm[f"throughput_{key}"], nexrender[f"throughput_{key}"]
        section.add(f"aefarm throughput, {label}", ours, "jobs/s")
        section.add(f"nexrender throughput, {label}", theirs, "jobs/s")
        section.add(f"throughput {label}, aefarm / nexrender", ours / theirs, "x")
    for name, (state, seconds) in (
        ("aefarm", aefarm["killed"]),
        ("nexrender", nexrender["killed"]),
    ):
        if state in AEFARM_FINAL | NEXRENDER_FINAL:
            text = f"{name}: the job whose worker was killed ended {state} {seconds:.1f} s later"
        else:
            text = (
                f"{name}: the job whose worker was killed was still {state} {seconds:.0f} s later"
            )
        section.notes.append(text)
    return section
