"""A raw gRPC agent sends the same Result twice, and again after a reconnect: applied once."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from protos import agent_pb2, agent_pb2_grpc, common_pb2
from tests.e2e.farm import Farm
from tests.unit.test_agent_support import make_project

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
MESSAGE_TIMEOUT_SECONDS = 30.0


class RawAgent:
    """One Connect stream driven message by message from a test."""

    def __init__(self, channel: grpc.Channel, agent_id: str) -> None:
        self._requests: queue.Queue[agent_pb2.AgentMessage | None] = queue.Queue()
        self.replies: queue.Queue[agent_pb2.ControllerMessage] = queue.Queue()
        hello = agent_pb2.Hello(
            agent_id=agent_id,
            host="raw",
            version="0",
            slots=1,
            engines=[agent_pb2.Engine(name="ae2026", version="26.0", path="/x", available=True)],
        )
        self._requests.put(agent_pb2.AgentMessage(hello=hello))
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        self._call = stub.Connect(self._outgoing())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _outgoing(self) -> Iterator[agent_pb2.AgentMessage]:
        while (message := self._requests.get()) is not None:
            yield message

    def _read(self) -> None:
        try:
            for reply in self._call:
                self.replies.put(reply)
        except grpc.RpcError:
            pass

    def send(self, message: agent_pb2.AgentMessage) -> None:
        self._requests.put(message)

    def next(self, body: str) -> agent_pb2.ControllerMessage:
        """Return the next reply with that body, skipping others."""
        while True:
            reply = self.replies.get(timeout=MESSAGE_TIMEOUT_SECONDS)
            if reply.WhichOneof("body") == body:
                return reply

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()


def test_result_resent_is_applied_once(tmp_path: Path) -> None:
    farm = Farm(tmp_path, heartbeat_interval=0.2, lease_grace=10.0)
    try:
        farm.start_controller()
        template = make_project(tmp_path / "t.aep")
        job_id = farm.submit({"template": {"src": template.as_uri(), "composition": "Main"}}).job.id
        agent = RawAgent(farm.channel, "raw-1")
        lease = agent.next("lease").lease
        result = agent_pb2.Result(
            result_id="result-1",
            lease_id=lease.lease_id,
            job_id=lease.job_id,
            attempt=lease.attempt,
            success=True,
            outputs=[common_pb2.Output(url="file:///renders/out.mp4", name="out.mp4", size=1)],
        )
        agent.send(agent_pb2.AgentMessage(result=result))
        agent.send(agent_pb2.AgentMessage(result=result))
        first, second = agent.next("ack").ack, agent.next("ack").ack
        agent.close()
        again = RawAgent(farm.channel, "raw-1")
        again.send(agent_pb2.AgentMessage(result=result))
        third = again.next("ack").ack
        again.close()

        job = farm.get(job_id)
        assert (first.accepted, first.reason) == (True, "applied")
        assert [(ack.accepted, ack.reason) for ack in (second, third)] == [
            (True, "applied before"),
            (True, "applied before"),
        ]
        assert job.state == FINISHED
        assert [t.state for t in job.history].count(FINISHED) == 1
        assert job.attempts == 1
    finally:
        farm.stop()


def test_stale_lease_result_rejected(tmp_path: Path) -> None:
    farm = Farm(tmp_path, heartbeat_interval=0.2, lease_grace=10.0)
    try:
        farm.start_controller()
        template = make_project(tmp_path / "t.aep")
        job_id = farm.submit({"template": {"src": template.as_uri(), "composition": "Main"}}).job.id
        agent = RawAgent(farm.channel, "raw-1")
        lease = agent.next("lease").lease
        stale = agent_pb2.Result(
            result_id="result-stale",
            lease_id="0" * 32,
            job_id=lease.job_id,
            attempt=lease.attempt,
            success=True,
            outputs=[common_pb2.Output(url="file:///renders/out.mp4", name="out.mp4", size=1)],
        )
        agent.send(agent_pb2.AgentMessage(result=stale))
        ack = agent.next("ack").ack
        cancel = agent.next("cancel").cancel
        agent.close()

        assert not ack.accepted
        assert "not a current lease" in ack.reason
        assert cancel.lease_id == "0" * 32
        assert farm.get(job_id).state != FINISHED
    finally:
        farm.stop()
