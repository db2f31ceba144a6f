"""The agent's life cycle: cancel, shutdown, reconnect, outbox resend and restart."""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
from test_agent_support import (
    RunningAgent,
    StandInController,
    agent_config,
    child_processes,
    lease_result,
    make_project,
    render_lease,
    rendering,
    result_of,
    run,
    run_farm,
    start_agent,
    start_server,
)

from agent.lease_journal import LeaseJournal
from agent.outbox import Outbox
from protos import agent_pb2


def test_cancel_stops_render(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        template = make_project(tmp_path / "template.aep", comment="aefarm-sim: hang_mid_render")
        lease = render_lease(template)
        standin.send(agent_pb2.ControllerMessage(lease=lease))
        await rendering(standin, lease.lease_id)
        cancel = agent_pb2.Cancel(lease_id=lease.lease_id, job_id=lease.job_id, reason="by test")
        standin.send(agent_pb2.ControllerMessage(cancel=cancel))
        result = await result_of(standin, lease.lease_id)
        assert result.error.code == "cancelled"
        assert result.error.message == "by test"
        assert not result.error.retryable
        assert agent.agent.runner.running() == []

    run_farm(tmp_path, scenario)


def test_second_lease_rejected_when_busy(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        template = make_project(tmp_path / "template.aep", comment="aefarm-sim: hang_launch")
        first, second = render_lease(template), render_lease(template)
        standin.send(agent_pb2.ControllerMessage(lease=first))
        result = await lease_result(standin, second)
        assert result.error.code == "agent_busy"
        assert result.error.retryable
        heartbeat = await standin.wait_for(
            lambda: [h for h in standin.of_kind("heartbeat") if h.running]
        )
        assert [r.lease_id for r in heartbeat[-1].running] == [first.lease_id]

    run_farm(tmp_path, scenario)


def test_shutdown_reports_running_lease(tmp_path: Path) -> None:
    async def main() -> None:
        children_before = child_processes()
        standin = StandInController(tmp_path / "artifacts")
        server, port = await start_server(standin)
        agent = await start_agent(agent_config(tmp_path / "work", port))
        try:
            template = make_project(tmp_path / "template.aep", comment="aefarm-sim: hang_launch")
            lease = render_lease(template)
            await standin.wait_for(lambda: standin.hellos)
            standin.send(agent_pb2.ControllerMessage(lease=lease))
            await rendering(standin, lease.lease_id)
            await agent.stop()
            result = await result_of(standin, lease.lease_id)
            assert result.error.code == "agent_shutdown"
            assert result.error.retryable
            assert Outbox(tmp_path / "work" / "outbox").pending() == []
            assert child_processes() - children_before == set()
        finally:
            await agent.stop()
            await server.stop(None)

    run(main)


def test_lease_during_shutdown_rejected(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        agent.agent.runner.accepting = False
        lease = render_lease(make_project(tmp_path / "template.aep"))
        standin.send(agent_pb2.ControllerMessage(lease=lease))
        result = await result_of(standin, lease.lease_id)
        assert result.error.code == "agent_shutdown"
        assert result.error.retryable
        assert LeaseJournal(tmp_path / "work" / "running").recorded() == []

    run_farm(tmp_path, scenario)


def test_reconnect_keeps_render_running(tmp_path: Path) -> None:
    async def main() -> None:
        standin = StandInController(tmp_path / "artifacts")
        server, port = await start_server(standin)
        agent = await start_agent(agent_config(tmp_path / "work", port))
        try:
            template = make_project(tmp_path / "template.aep", comment="aefarm-sim: slow:0.3")
            lease = render_lease(template)
            await standin.wait_for(lambda: standin.hellos)
            standin.send(agent_pb2.ControllerMessage(lease=lease))
            await rendering(standin, lease.lease_id)

            await server.stop(None)
            server, _ = await start_server(standin, port)
            hellos = await standin.wait_for(lambda: standin.hellos[1:])
            assert [r.lease_id for r in hellos[0].running] == [lease.lease_id]

            result = await result_of(standin, lease.lease_id)
            assert result.error.message == ""
            assert result.success
            assert agent.agent.connection.connects == 2
        finally:
            await agent.stop()
            await server.stop(None)

    run(main)


def test_connect_retried_after_rejections(tmp_path: Path) -> None:
    async def main() -> None:
        standin = StandInController(tmp_path / "artifacts")
        standin.rejections = [
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.INTERNAL,
        ]
        server, port = await start_server(standin)
        agent = await start_agent(agent_config(tmp_path / "work", port))
        try:
            await standin.wait_for(lambda: standin.hellos)
            assert standin.connect_calls == 5
            await standin.wait_for(lambda: agent.agent.connection.connects == 1)
        finally:
            await agent.stop()
            await server.stop(None)

    run(main)


def test_agent_waits_for_late_controller(tmp_path: Path) -> None:
    async def main() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        agent = await start_agent(agent_config(tmp_path / "work", port))
        standin = StandInController(tmp_path / "artifacts")
        server, _ = await start_server(standin, port)
        try:
            await standin.wait_for(lambda: standin.hellos)
        finally:
            await agent.stop()
            await server.stop(None)

    run(main)


def test_welcome_stops_leases_no_longer_held(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        template = make_project(tmp_path / "template.aep", comment="aefarm-sim: hang_launch")
        lease = render_lease(template)
        standin.send(agent_pb2.ControllerMessage(lease=lease))
        await rendering(standin, lease.lease_id)
        standin.stop_lease_ids = [lease.lease_id]
        standin.drop_streams()
        result = await result_of(standin, lease.lease_id)
        assert result.error.code == "lease_not_current"
        assert len(standin.hellos) == 2

    run_farm(tmp_path, scenario)


def test_outbox_resent_after_restart(tmp_path: Path) -> None:
    async def main() -> None:
        standin = StandInController(tmp_path / "artifacts")
        standin.acknowledge = False
        server, port = await start_server(standin)
        config = agent_config(tmp_path / "work", port, shutdown_ack_wait=0.0)
        try:
            agent = await start_agent(config)
            lease = render_lease(make_project(tmp_path / "template.aep"))
            await standin.wait_for(lambda: standin.hellos)
            first = await lease_result(standin, lease)
            await agent.stop()
            outbox = Outbox(tmp_path / "work" / "outbox")
            assert [r.result_id for r in outbox.pending()] == [first.result_id]

            standin.acknowledge = True
            agent = await start_agent(config)
            resent = await standin.wait_for(
                lambda: [r for r in standin.results[1:] if r.result_id == first.result_id]
            )
            assert resent[0] == first
            await standin.wait_for(lambda: not outbox.pending())
            await agent.stop()
        finally:
            await server.stop(None)

    run(main)


def test_interrupted_leases_in_hello(tmp_path: Path) -> None:
    journal = LeaseJournal(tmp_path / "work" / "running")
    crashed = agent_pb2.RunningLease(lease_id="deadbeef", job_id="job9", attempt=4)
    journal.record(crashed)

    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        assert list(standin.hellos[0].interrupted) == [crashed]
        assert list(standin.hellos[0].running) == []
        # The agent drops them from its journal once the Welcome arrives.
        await standin.wait_for(lambda: not journal.recorded())

    run_farm(tmp_path, scenario)
