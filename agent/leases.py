"""Run the leases the controller grants, up to the agent's slots, and deliver their results."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from dataclasses import dataclass

from agent.errors import LeaseFailure
from agent.lease_context import LeaseContext, LeaseLogger, current_lease
from agent.lease_journal import LeaseJournal
from agent.outbox import Outbox
from agent.pipeline import LeasePipeline, PipelineServices
from agent.progress import LeaseReporter, SendMessage
from agent.workspace import Workspaces
from protos import agent_pb2

logger = logging.getLogger(__name__)

LOG_FILE = "aerender.log"


@dataclass
class _Running:
    context: LeaseContext
    pipeline: LeasePipeline
    task: asyncio.Task[None]


class LeaseRunner:
    def __init__(
        self,
        *,
        agent_id: str,
        slots: int,
        services: PipelineServices,
        workspaces: Workspaces,
        outbox: Outbox,
        journal: LeaseJournal,
        send: SendMessage,
    ) -> None:
        self.agent_id = agent_id
        self.slots = slots
        self.services = services
        self.workspaces = workspaces
        self.outbox = outbox
        self.journal = journal
        self._send = send
        self._running: dict[str, _Running] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self.accepting = True

    def running(self) -> list[agent_pb2.RunningLease]:
        return [entry.context.running() for entry in self._running.values()]

    def start(self, lease: agent_pb2.Lease) -> None:
        """Start the pipeline of lease.

        A lease that cannot start gets a failure Result at once, except during shutdown.
        """
        context = LeaseContext.of(lease, self.agent_id)
        lease_logger = LeaseLogger(logger, context)
        if lease.lease_id in self._running:
            lease_logger.warning("the lease is already running: ignoring the duplicate")
            return
        if not self.accepting:
            # The controller requeues an agent_shutdown lease at once, without counting the
            # attempt, and gives it to another agent first.
            self._reject(context, "agent_shutdown", "the agent is stopping and takes no new leases")
            return
        if len(self._running) >= self.slots:
            self._reject(
                context,
                "agent_busy",
                f"the agent already runs {len(self._running)} leases in {self.slots} slots",
            )
            return

        try:
            self.journal.record(context.running())
            workspace = self.workspaces.create(lease.lease_id)
            reporter = LeaseReporter(context, self._send, log_file=workspace / LOG_FILE)
        except OSError as error:
            self.journal.forget(lease.lease_id)
            self._reject(context, "agent_error", f"cannot create the lease's workspace: {error}")
            return
        pipeline = LeasePipeline(lease, context, self.services, workspace, reporter)
        task_context = contextvars.copy_context()
        task_context.run(current_lease.set, context)
        task = asyncio.create_task(
            self._run(context, pipeline), name=f"lease-{lease.lease_id}", context=task_context
        )
        self._running[lease.lease_id] = _Running(context, pipeline, task)
        lease_logger.info(
            "lease started in %s: %s job, engine %s, composition %r",
            workspace,
            lease.task.kind or "render",
            lease.task.settings.engine,
            lease.task.composition,
        )

    async def _run(self, context: LeaseContext, pipeline: LeasePipeline) -> None:
        try:
            result = await pipeline.run()
        except asyncio.CancelledError:
            logger.warning("the lease task was cancelled without a result")
            raise
        finally:
            self._running.pop(context.lease_id, None)
        if not result.success:
            self.workspaces.mark_failed(pipeline.workspace)
        self.deliver(result)
        self.journal.forget(context.lease_id)

    def _reject(self, context: LeaseContext, code: str, message: str) -> None:
        LeaseLogger(logger, context).warning("lease rejected: %s: %s", code, message)
        failure = LeaseFailure(code, message, retryable=True)
        result = agent_pb2.Result(
            result_id=uuid.uuid4().hex,
            lease_id=context.lease_id,
            job_id=context.job_id,
            attempt=context.attempt,
            success=False,
            error=failure.to_proto(),
        )
        self.deliver(result)

    def deliver(self, result: agent_pb2.Result) -> None:
        """Store result in the outbox, then send it if the agent is connected."""
        try:
            self.outbox.put(result)
        except OSError:
            # The result is still sent, but it is lost if this connection breaks before the Ack.
            logger.exception("cannot store result %s in the outbox", result.result_id)
        if not self._send(agent_pb2.AgentMessage(result=result)):
            logger.info(
                "result %s of lease %s waits in the outbox for a connection",
                result.result_id,
                result.lease_id,
            )

    def cancel(self, lease_id: str, failure: LeaseFailure) -> bool:
        """Start stopping a running lease; its Result carries failure.

        Returns at once, without waiting for the process tree to end, so the caller (the
        controller stream's reader) is not held up. False when the lease is not running.
        """
        entry = self._running.get(lease_id)
        if entry is None:
            return False
        stopping = asyncio.create_task(entry.pipeline.stop(failure), name=f"stop-{lease_id}")
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)
        return True

    async def stop_all(self, failure: LeaseFailure) -> None:
        """Stop taking leases, stop every running one with failure, and wait for their results."""
        self.accepting = False
        entries = list(self._running.values())
        await asyncio.gather(*(entry.pipeline.stop(failure) for entry in entries))
        await asyncio.gather(*(entry.task for entry in entries), return_exceptions=True)

    def acknowledge(self, ack: agent_pb2.Ack) -> None:
        result = self.outbox.get(ack.result_id)
        removed = self.outbox.remove(ack.result_id)
        log: logging.Logger | LeaseLogger = logger
        if result is not None:
            context = LeaseContext(result.lease_id, result.job_id, result.attempt, self.agent_id)
            log = LeaseLogger(logger, context)
        if ack.accepted:
            log.info("result %s of lease %s was accepted", ack.result_id, ack.lease_id)
        else:
            log.warning(
                "result %s of lease %s was rejected: %s", ack.result_id, ack.lease_id, ack.reason
            )
        if not removed:
            log.info("result %s was not in the outbox (already acknowledged)", ack.result_id)
        if result is not None:
            self.workspaces.release(result.lease_id)
