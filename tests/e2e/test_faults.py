"""Leases through faults, with a real controller and real simulated agents on 127.0.0.1.

Renders are slowed by the simulator's `slow` fault (comp comment `aefarm-sim: slow:0.1`, 40
frames), so each one lasts about 4 s and a fault can hit it mid-render. Waits are for states,
never for a time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import Farm
from tests.e2e.tcp_proxy import TcpProxy
from tests.unit.test_agent_support import make_project

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
CANCELLED = common_pb2.JOB_STATE_CANCELLED
QUEUED = common_pb2.JOB_STATE_QUEUED
RENDERING = common_pb2.JOB_STATE_RENDERING
HEARTBEAT = 0.2
GRACE = 2.0
CONTROLLER_FLAGS = ["--retry-delay", "0.2", "--retry-delay-max", "1"]
WAIT_SECONDS = 90.0


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    with controller_only(tmp_path, GRACE) as farm:
        yield farm


@contextmanager
def controller_only(root: Path, lease_grace: float) -> Iterator[Farm]:
    farm = Farm(root, heartbeat_interval=HEARTBEAT, lease_grace=lease_grace)
    try:
        farm.start_controller(CONTROLLER_FLAGS)
        yield farm
    finally:
        farm.stop()


def slow_job(root: Path, comment: str = "aefarm-sim: slow:0.1") -> dict[str, object]:
    template = make_project(root / "slow.aep", seconds=4.0, comment=comment)
    return {"template": {"src": template.as_uri(), "composition": "Main"}}


def start_agent(farm: Farm, agent_id: str, *extra: str, env: dict[str, str] | None = None) -> None:
    farm.start_agent(agent_id, ["--file-root", str(farm.root), *extra], env)


def wait_until(what: str, check: Callable[[], object], farm: Farm) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen: {farm.log('controller')}")
        time.sleep(0.05)


def rendering_on(farm: Farm, job_id: str) -> str:
    """Wait until the job renders and return its agent's id."""
    wait_until(f"job {job_id} rendering", lambda: farm.get(job_id).state == RENDERING, farm)
    return farm.get(job_id).agent_id


def finished_transitions(job: jobs_pb2.Job) -> list[common_pb2.Transition]:
    return [t for t in job.history if t.state == FINISHED]


def causes(job: jobs_pb2.Job) -> str:
    return "\n".join(t.cause for t in job.history)


def test_agent_killed_mid_render(farm: Farm) -> None:
    start_agent(farm, "agent-1")
    farm.wait_for_agents(1)
    job_id = farm.submit(slow_job(farm.root)).job.id
    assert rendering_on(farm, job_id) == "agent-1"
    start_agent(farm, "agent-2")
    farm.wait_for_agents(2)

    farm.agents["agent-1"].kill()
    job = farm.wait_final(job_id, WAIT_SECONDS)

    assert job.state == FINISHED, job
    assert job.attempts == 2
    assert finished_transitions(job)[0].agent_id == "agent-2"
    assert "lease expired: agent_lost" in causes(job)


def test_agent_restart_reports_interrupted(tmp_path: Path) -> None:
    # The grace outlasts the agent's start, so the new Hello names the lease before it expires.
    with controller_only(tmp_path, 20.0) as farm:
        restart_agent_mid_render(farm)


def restart_agent_mid_render(farm: Farm) -> None:
    start_agent(farm, "agent-1")
    farm.wait_for_agents(1)
    job_id = farm.submit(slow_job(farm.root)).job.id
    rendering_on(farm, job_id)

    farm.agents["agent-1"].kill()
    farm.agents["agent-1"].wait()
    start_agent(farm, "agent-1")
    job = farm.wait_final(job_id, WAIT_SECONDS)

    assert job.state == FINISHED, job
    assert job.attempts == 2
    assert "lease interrupted: agent_lost" in causes(job)
    assert "lease expired" not in causes(job)


def test_controller_killed_one_outcome(tmp_path: Path) -> None:
    # The grace outlasts the controller's start plus the agent's reconnect backoff.
    with controller_only(tmp_path, 20.0) as farm:
        kill_controller_mid_render(farm)


def kill_controller_mid_render(farm: Farm) -> None:
    start_agent(farm, "agent-1")
    farm.wait_for_agents(1)
    job_id = farm.submit(slow_job(farm.root)).job.id
    rendering_on(farm, job_id)

    farm.kill_controller()
    farm.start_controller(CONTROLLER_FLAGS)
    job = farm.wait_final(job_id, WAIT_SECONDS)

    assert job.state == FINISHED, job
    assert job.attempts == 1
    assert len(finished_transitions(job)) == 1


def test_short_cut_keeps_the_lease(tmp_path: Path) -> None:
    # A longer grace than the other tests: the agent must reconnect through its backoff.
    with controller_only(tmp_path, 8.0) as farm:
        cut_shortly(farm)


def cut_shortly(farm: Farm) -> None:
    proxy = TcpProxy(farm.address).start()
    try:
        start_agent(farm, "agent-1", "--controller", proxy.address)
        farm.wait_for_agents(1)
        job_id = farm.submit(slow_job(farm.root)).job.id
        rendering_on(farm, job_id)

        proxy.cut()
        wait_until("the agent disconnected", lambda: not _connected(farm, "agent-1"), farm)
        proxy.resume()
        job = farm.wait_final(job_id, WAIT_SECONDS)

        assert job.state == FINISHED, job
        assert job.attempts == 1
        assert proxy.connections_accepted >= 2
    finally:
        proxy.close()


def test_long_cut_requeues_job(farm: Farm) -> None:
    proxy = TcpProxy(farm.address).start()
    try:
        start_agent(farm, "agent-1", "--controller", proxy.address)
        farm.wait_for_agents(1)
        job_id = farm.submit(slow_job(farm.root)).job.id
        rendering_on(farm, job_id)
        first_lease = _lease_ids(farm, job_id)[0]
        start_agent(farm, "agent-2")

        proxy.cut()
        # agent-1 renders on while cut off; its lease expires and agent-2 gets the job.
        wait_until("attempt 2 on agent-2", lambda: farm.get(job_id).attempts == 2, farm)
        proxy.resume()
        job = farm.wait_final(job_id, WAIT_SECONDS)
        # agent-1 names its old lease in a Hello (told to stop) or sends its result (rejected).
        wait_until(
            "agent-1's old lease refused",
            lambda: _refused((farm.root / "controller.log").read_text(), first_lease),
            farm,
        )

        assert job.state == FINISHED, job
        assert job.attempts == 2
        assert [t.agent_id for t in finished_transitions(job)] == ["agent-2"]
    finally:
        proxy.close()


def _lease_ids(farm: Farm, job_id: str) -> list[str]:
    pattern = re.compile(rf"job={job_id} lease=([0-9a-f]+) attempt=\d+ agent=\S+: leased")
    return pattern.findall((farm.root / "controller.log").read_text())


def _refused(log: str, lease_id: str) -> bool:
    lines = [line for line in log.splitlines() if f"lease={lease_id}" in line]
    return any("rejected" in line or "not current" in line for line in lines)


def test_hung_render_retried_elsewhere(farm: Farm) -> None:
    start_agent(farm, "agent-1", "--hang-timeout", "1", env={"AEFARM_SIM_FAULTS": "hang_launch"})
    farm.wait_for_agents(1)
    job_id = farm.submit(slow_job(farm.root, comment="")).job.id
    wait_until("attempt 1 leased", lambda: farm.get(job_id).attempts == 1, farm)
    start_agent(farm, "agent-2")
    job = farm.wait_final(job_id, WAIT_SECONDS)

    assert job.state == FINISHED, job
    assert job.attempts == 2
    assert finished_transitions(job)[0].agent_id == "agent-2"
    assert "render_hang" in causes(job)


def test_cancel_stops_running_render(farm: Farm) -> None:
    start_agent(farm, "agent-1")
    farm.wait_for_agents(1)
    job_id = farm.submit(slow_job(farm.root)).job.id
    rendering_on(farm, job_id)

    farm.jobs.CancelJob(jobs_pb2.CancelJobRequest(id=job_id, reason="by test"), timeout=10)
    job = farm.wait_final(job_id, WAIT_SECONDS)

    assert job.state == CANCELLED, job
    assert "cancel requested: by test" in causes(job)
    assert job.attempts == 1


def test_drain_outlives_controller_restart(farm: Farm) -> None:
    start_agent(farm, "agent-1")
    farm.wait_for_agents(1)
    farm.farm_stub().DrainAgent(jobs_pb2.DrainAgentRequest(agent_id="agent-1"), timeout=10)
    farm.kill_controller()
    farm.start_controller(CONTROLLER_FLAGS)
    farm.wait_for_agents(1)

    job_id = farm.submit(slow_job(farm.root, comment="")).job.id
    (agent,) = farm.list_agents()
    assert agent.draining
    assert farm.get(job_id).state == QUEUED

    farm.farm_stub().ResumeAgent(jobs_pb2.ResumeAgentRequest(agent_id="agent-1"), timeout=10)
    assert farm.wait_final(job_id, WAIT_SECONDS).state == FINISHED


def test_sigterm_drain_finishes_render(farm: Farm) -> None:
    start_agent(farm, "agent-1", "--drain-grace", "60")
    farm.wait_for_agents(1)
    job_id = farm.submit(slow_job(farm.root)).job.id
    rendering_on(farm, job_id)

    farm.agents["agent-1"].terminate()
    job = farm.wait_final(job_id, WAIT_SECONDS)

    assert job.state == FINISHED, job
    assert job.attempts == 1
    assert farm.agents["agent-1"].wait(timeout=WAIT_SECONDS) == 0


def test_sigterm_after_grace_requeues(farm: Farm) -> None:
    start_agent(farm, "agent-1", "--drain-grace", "0.5")
    farm.wait_for_agents(1)
    job_id = farm.submit(slow_job(farm.root)).job.id
    rendering_on(farm, job_id)
    start_agent(farm, "agent-2")
    farm.wait_for_agents(2)

    farm.agents["agent-1"].terminate()
    job = farm.wait_final(job_id, WAIT_SECONDS)

    assert job.state == FINISHED, job
    assert job.attempts == 2
    assert "agent_shutdown" in causes(job)
    assert "lease expired" not in causes(job)


def _connected(farm: Farm, agent_id: str) -> bool:
    return any(a.agent_id == agent_id and a.state == "connected" for a in farm.list_agents())
