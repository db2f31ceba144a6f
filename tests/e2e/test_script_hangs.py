"""Scripts that never end, on a real farm: both runners stop them, and nothing keeps running.

`agent-patched` runs scripts inside the simulated aerender (-r), where the hang watchdog
(--hang-timeout 3) stops a silent script, and `agent-afterfx` runs them in the After Effects
stand-in, which --script-timeout 3 stops. Each failure must name the scripts, cost one
attempt, leave no simulator or Node.js process, and leave the agent able to render.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import Farm, simulator_processes
from tests.unit.test_script_host_support import NODE, build_scene

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(NODE is None, reason="node is not installed")]

FINISHED = common_pb2.JOB_STATE_FINISHED
FAILED = common_pb2.JOB_STATE_FAILED
CANCELLED = common_pb2.JOB_STATE_CANCELLED
RUNNERS = ("patched", "afterfx")
LOOP = "while (true) {}"
# Seconds to wait for a script to start or for the processes of a cancelled one to end.
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    build_scene(folder / "scene.aep")
    return folder


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    running = Farm(tmp_path_factory.mktemp("farm"))
    limits = ["--hang-timeout", "3", "--script-timeout", "3"]
    try:
        running.start_controller()
        running.start_agent("agent-patched", extra=["--pool", "patched", *limits])
        running.start_agent(
            "agent-afterfx", extra=["--pool", "afterfx", "--script-runner", "afterfx", *limits]
        )
        running.wait_for_agents(2)
        yield running
    finally:
        running.stop()


def function_job(media: Path, runner: str, code: str) -> dict[str, Any]:
    return {
        "tags": [runner],
        "template": {"src": (media / "scene.aep").as_uri(), "composition": "Main"},
        "settings": {"frames": [0, 1]},
        "assets": [{"type": "function", "code": code}],
    }


def script_hosts(farm: Farm) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "script_host.js" in cmdline and str(farm.root) in cmdline:
            found.append(process)
    return found


def wait_until(condition: Callable[[], bool]) -> None:
    """Return once condition holds, or after WAIT_SECONDS; the caller checks it again."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def leftovers(farm: Farm) -> list[psutil.Process]:
    """Return the farm's simulators and script hosts that still run, zombies included."""
    found = simulator_processes(farm.root) + script_hosts(farm)
    for agent in farm.agents.values():
        # A zombie has no command line left; a zombie child of an agent is one it never reaped.
        for child in psutil.Process(agent.pid).children():
            if child.status() == psutil.STATUS_ZOMBIE:
                found.append(child)
    return found


@pytest.mark.parametrize("runner", RUNNERS)
def test_endless_script_fails_once(farm: Farm, media: Path, runner: str) -> None:
    done = farm.wait_final(farm.submit(function_job(media, runner, LOOP)).job.id)

    assert done.state == FAILED
    assert done.error.code == "script_failed", done.error.message
    assert "endless loop" in done.error.message
    assert done.attempts == 1
    assert leftovers(farm) == []

    healthy = farm.wait_final(farm.submit(function_job(media, runner, "var ok = 1;")).job.id)
    assert healthy.state == FINISHED, healthy.error.message


@pytest.mark.parametrize("runner", RUNNERS)
def test_cancelled_endless_script_stops(farm: Farm, media: Path, runner: str) -> None:
    job = farm.submit(function_job(media, runner, LOOP)).job
    wait_until(lambda: script_hosts(farm) != [])
    assert script_hosts(farm) != [], "the script did not start"
    farm.jobs.CancelJob(jobs_pb2.CancelJobRequest(id=job.id, reason="test"), timeout=10)

    done = farm.wait_final(job.id)

    assert done.state == CANCELLED
    # The controller cancels the job at once; the agent stops the processes after that.
    wait_until(lambda: leftovers(farm) == [])
    assert leftovers(farm) == []
