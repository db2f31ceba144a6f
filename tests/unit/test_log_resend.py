"""Log chunks dropped while disconnected are resent from the workspace log, and the controller
stores each byte once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.lease_context import LeaseContext
from agent.progress import LeaseReporter
from controller.joblogs import JobLogs
from protos import agent_pb2

CONTEXT = LeaseContext(lease_id="l" * 32, job_id="job1", attempt=1, agent_id="box1")


class Link:
    """A connection that drops messages while down and stores log chunks while up."""

    def __init__(self, logs: JobLogs) -> None:
        self.up = True
        self.logs = logs
        self.gaps: list[int] = []

    def send(self, message: agent_pb2.AgentMessage) -> bool:
        if not self.up:
            return False
        if message.WhichOneof("body") == "log":
            chunk = message.log
            missing = self.logs.append(chunk.job_id, chunk.attempt, chunk.offset, chunk.data)
            self.gaps.append(missing)
        return True


def test_dropped_log_resent_after_reconnect(tmp_path: Path) -> None:
    logs = JobLogs(tmp_path / "controller")
    link = Link(logs)

    async def scenario() -> None:
        reporter = LeaseReporter(
            CONTEXT, link.send, log_file=tmp_path / "aerender.log", log_interval=3600
        )
        reporter.log(b"first line\n")
        reporter._flush_log()
        link.up = False
        reporter.log(b"sent while down\n")
        reporter._flush_log()
        link.up = True
        reporter.log(b"after reconnect\n")
        reporter.close()

    asyncio.run(scenario())

    stored = b"".join(logs.read("job1", 1))
    assert stored == b"first line\nsent while down\nafter reconnect\n"
    assert (tmp_path / "aerender.log").read_bytes() == stored
    assert all(gap == 0 for gap in link.gaps)


def test_progress_after_reconnect_resends_log(tmp_path: Path) -> None:
    logs = JobLogs(tmp_path / "controller")
    link = Link(logs)

    async def scenario() -> None:
        reporter = LeaseReporter(
            CONTEXT, link.send, log_file=tmp_path / "aerender.log", log_interval=3600
        )
        link.up = False
        reporter.log(b"frame 1\nframe 2\n")
        reporter._flush_log()
        link.up = True
        # No new log byte comes, as in a long frame: the next progress message resends.
        reporter.progress(50.0, 1, 2)
        assert b"".join(logs.read("job1", 1)) == b"frame 1\nframe 2\n"
        reporter.close()

    asyncio.run(scenario())


def test_resend_without_log_file_is_skipped(tmp_path: Path) -> None:
    logs = JobLogs(tmp_path / "controller")
    link = Link(logs)

    async def scenario() -> None:
        reporter = LeaseReporter(CONTEXT, link.send, log_interval=3600)
        link.up = False
        reporter.log(b"lost\n")
        reporter._flush_log()
        link.up = True
        reporter.log(b"kept\n")
        reporter.close()

    asyncio.run(scenario())

    assert b"".join(logs.read("job1", 1)) == b"kept\n"
    assert link.gaps == [5]
