"""The aerender process tree through a real agent: cancel and shutdown stop all of it, and
engines are discovered from their binaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import START_TIMEOUT_SECONDS, Farm, simulator_processes, started_under
from tests.e2e.test_render_fidelity import (
    FRAMES,
    Case,
    fault_job,
    make_templates,
    start_farm,
    template_with_faults,
)

pytestmark = pytest.mark.e2e

# The detached grandchild that the spawn_child fault starts, as After Effects outlives aerender.
AFTERFX_MARK = "aefarm-sim-afterfx"


def afterfx_processes(root: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(AFTERFX_MARK in part for part in cmdline) and started_under(process, root):
            found.append(process)
    return found


def render_processes(root: Path) -> list[psutil.Process]:
    simulators = simulator_processes(root)
    return simulators + afterfx_processes(root)


def wait_for_render_stage(farm: Farm, job_id: str) -> jobs_pb2.Job:
    """Wait until the job renders and its simulator has started the detached child."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        job = farm.get(job_id)
        rendering = job.state == common_pb2.JOB_STATE_RENDERING
        if rendering and job.stage == common_pb2.STAGE_RENDER and afterfx_processes(farm.root):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not start rendering: {job}")
        time.sleep(0.05)


def spawning_job(tmp_path: Path) -> dict[str, object]:
    templates = make_templates(tmp_path / "templates")
    # slow keeps the render going long enough to be cancelled in the middle.
    template = template_with_faults(templates, "spawn_child, slow:2", tmp_path / "spawn.aep")
    return fault_job(template, Case("spawn_child", common_pb2.JOB_STATE_CANCELLED))


def test_cancel_stops_whole_tree(tmp_path: Path) -> None:
    job = spawning_job(tmp_path)
    farm = start_farm(tmp_path / "farm", 1, tmp_path)
    try:
        job_id = farm.submit(job).job.id
        wait_for_render_stage(farm, job_id)
        farm.jobs.CancelJob(jobs_pb2.CancelJobRequest(id=job_id, reason="test"), timeout=10)
        final = farm.wait_final(job_id, timeout=60)
        left = render_processes(farm.root)
    finally:
        farm.stop()

    assert final.state == common_pb2.JOB_STATE_CANCELLED
    assert left == []


def test_agent_sigterm_stops_whole_tree(tmp_path: Path) -> None:
    job = spawning_job(tmp_path)
    # SIGTERM first lets running renders finish for the drain grace, then stops them.
    farm = start_farm(tmp_path / "farm", 1, tmp_path, ("--drain-grace", "1"))
    try:
        job_id = farm.submit(job).job.id
        wait_for_render_stage(farm, job_id)
        agent = farm.agents["agent-1"]
        agent.send_signal(signal.SIGTERM)
        exit_code = agent.wait(timeout=60)
        left = render_processes(farm.root)
        job_after = farm.get(job_id)
    finally:
        farm.stop()

    assert exit_code == 0
    assert left == []
    # The render was stopped, not finished, and the job went back to the queue.
    assert job_after.state == common_pb2.JOB_STATE_QUEUED
    assert any("agent_shutdown" in t.cause for t in job_after.history)


def write_fake_aerender(path: Path) -> Path:
    """Write an executable aerender that runs the simulator as AE 2026."""
    path.write_text(
        "#!/bin/sh\n"
        "AEFARM_SIM_VERSION=26.1x20\n"
        "export AEFARM_SIM_VERSION\n"
        f'exec "{sys.executable}" -m agent.simulator "$@"\n'
    )
    path.chmod(0o755)
    return path


def test_engines_found_from_binaries(tmp_path: Path) -> None:
    fake = write_fake_aerender(tmp_path / "aerender")
    farm = Farm(tmp_path / "farm")
    farm.start_controller()
    work_dir = tmp_path / "agent"
    argv = [sys.executable, "-m", "agent.main", "--controller", farm.address]
    argv += ["--work-dir", str(work_dir), "--agent-id", "real-engines"]
    argv += ["--engine", "ae2025=/nonexistent/aerender", "--engine", f"ae2026={fake}"]
    argv += ["--file-root", str(tmp_path)]
    log_path = tmp_path / "real-engines.log"
    with open(log_path, "wb") as log_file:
        agent = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ}
        )
    farm.agents["real-engines"] = agent
    try:
        farm.wait_for_agents(1)
        engines = {engine.name: engine for engine in farm.list_agents()[0].engines}

        templates = make_templates(tmp_path / "templates")
        template = template_with_faults(templates, "fields", tmp_path / "plain.aep")
        job = fault_job(template, Case("", common_pb2.JOB_STATE_FINISHED))
        final = farm.wait_final(farm.submit(job).job.id, timeout=60)
    finally:
        farm.stop()

    assert set(engines) == {"ae2025", "ae2026"}
    assert engines["ae2025"].available is False
    assert "/nonexistent/aerender" in engines["ae2025"].unavailable_reason
    assert engines["ae2026"].available is True
    assert engines["ae2026"].version == "26.1x20"
    assert final.state == common_pb2.JOB_STATE_FINISHED, log_path.read_text()[-3000:]
    assert final.frames_done == FRAMES
