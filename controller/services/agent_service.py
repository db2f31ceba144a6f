"""AgentService.Connect: one bidirectional stream per agent, turned into scheduler events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc

from controller.artifacts import ArtifactStore, parse_artifact_url
from controller.coordinator import AgentConnection, Coordinator
from controller.errors import StoreFailure
from controller.messages import STAGES_BY_PROTO, agent_record, error_info, lease_ref, output_info
from controller.scheduler_types import (
    AgentConnected,
    HeartbeatReceived,
    LeaseRef,
    LogReceived,
    ProgressReported,
    ResultReceived,
    Stage,
)
from protos import agent_pb2, agent_pb2_grpc

logger = logging.getLogger(__name__)

MAX_AGENT_ID_LENGTH = 200


class ProtocolViolation(Exception):
    """An agent sent a message the protocol does not allow; its stream is closed."""


class AgentService(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, coordinator: Coordinator, artifacts: ArtifactStore) -> None:
        self.coordinator = coordinator
        self.artifacts = artifacts

    async def Connect(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[agent_pb2.ControllerMessage]:
        hello = await _read_hello(request_iterator, context)
        connection = self.coordinator.attach(hello.agent_id)
        logger.info(
            "agent=%s connected (host %s, slots %d, running leases %d)",
            hello.agent_id,
            hello.host,
            hello.slots,
            len(hello.running),
        )
        violation: list[str] = []
        reader: asyncio.Task[None] | None = None
        try:
            now = self.coordinator.clock()
            self.coordinator.handle(
                AgentConnected(
                    agent_record(hello, now),
                    tuple(lease_ref(lease) for lease in hello.running),
                    tuple(lease_ref(lease) for lease in hello.interrupted),
                )
            )
            reader = asyncio.create_task(self._read(request_iterator, connection, violation))
            while (message := await connection.outbox.get()) is not None:
                yield message
        finally:
            if reader is not None:
                reader.cancel()
            self.coordinator.detach(connection)
            logger.info("agent=%s disconnected", hello.agent_id)
        if violation:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, violation[0])

    async def _read(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        connection: AgentConnection,
        violation: list[str],
    ) -> None:
        """Turn each agent message into an event until the agent closes its side."""
        try:
            async for message in request_iterator:
                self._on_message(connection.agent_id, message)
        except ProtocolViolation as error:
            logger.warning("agent=%s broke the protocol: %s", connection.agent_id, error)
            violation.append(str(error))
        except StoreFailure:
            pass
        except grpc.aio.AioRpcError as error:
            logger.info("agent=%s stream failed: %s", connection.agent_id, error.code())
        except Exception:
            logger.exception("agent=%s: handling a message failed", connection.agent_id)
        finally:
            connection.close()

    def _on_message(self, agent_id: str, message: agent_pb2.AgentMessage) -> None:
        match message.WhichOneof("body"):
            case "heartbeat":
                running = tuple(lease_ref(lease) for lease in message.heartbeat.running)
                draining = message.heartbeat.draining
                self.coordinator.handle(HeartbeatReceived(agent_id, running, draining))
            case "progress":
                self.coordinator.handle(_progress_event(agent_id, message.progress))
            case "log":
                chunk = message.log
                ref = LeaseRef(chunk.lease_id, chunk.job_id, chunk.attempt)
                self.coordinator.handle(LogReceived(agent_id, ref, chunk.offset, chunk.data))
            case "result":
                self._on_result(agent_id, message.result)
            case "hello":
                raise ProtocolViolation("Hello is allowed only as the first message of a stream")
            case _:
                raise ProtocolViolation("an AgentMessage must set one of its body fields")

    def _on_result(self, agent_id: str, result: agent_pb2.Result) -> None:
        ref = LeaseRef(result.lease_id, result.job_id, result.attempt)
        if not result.result_id:
            raise ProtocolViolation(f"the Result for lease {result.lease_id} has no result_id")
        if self.coordinator.store.is_result_applied(result.result_id):
            logger.info(
                "job=%s lease=%s attempt=%d agent=%s: result %s resent; it was applied before",
                ref.job_id,
                ref.lease_id,
                ref.attempt,
                agent_id,
                result.result_id,
            )
            ack = agent_pb2.Ack(
                result_id=result.result_id,
                lease_id=result.lease_id,
                accepted=True,
                reason="applied before",
            )
            # The first apply may not be synced yet, so gate=-1 delays the Ack until it is.
            self.coordinator.send_to_agent(agent_id, agent_pb2.ControllerMessage(ack=ack), gate=-1)
            return
        missing = tuple(
            output.url
            for output in result.outputs
            if (sha256 := parse_artifact_url(output.url)) is not None
            and not self.artifacts.exists(sha256)
        )
        event = ResultReceived(
            agent_id=agent_id,
            result_id=result.result_id,
            lease=ref,
            success=result.success,
            outputs=tuple(output_info(output) for output in result.outputs),
            error=error_info(result.error) if result.HasField("error") else None,
            missing_outputs=missing,
            bytes_fetched=result.bytes_fetched,
            bytes_from_cache=result.bytes_from_cache,
        )
        self.coordinator.handle(event)


async def _read_hello(
    request_iterator: AsyncIterator[agent_pb2.AgentMessage],
    context: grpc.aio.ServicerContext[Any, Any],
) -> agent_pb2.Hello:
    try:
        first = await anext(aiter(request_iterator))
    except StopAsyncIteration:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the stream ended before a Hello")
    if first.WhichOneof("body") != "hello":
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, "the first message of Connect must be a Hello"
        )
    hello = first.hello
    problem = ""
    if not hello.agent_id.strip():
        problem = "hello.agent_id is empty; give each agent a stable id, such as its host name"
    elif len(hello.agent_id) > MAX_AGENT_ID_LENGTH:
        problem = f"hello.agent_id has {len(hello.agent_id)} characters; at most 200 are allowed"
    elif hello.slots < 1:
        problem = f"hello.slots is {hello.slots}; an agent runs at least 1 lease at a time"
    if problem:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
    return hello


def _progress_event(agent_id: str, progress: agent_pb2.Progress) -> ProgressReported:
    return ProgressReported(
        agent_id=agent_id,
        lease=LeaseRef(progress.lease_id, progress.job_id, progress.attempt),
        stage=STAGES_BY_PROTO.get(progress.stage, Stage.NONE),
        percent=progress.percent,
        frames_done=progress.frames_done,
        frames_total=progress.frames_total,
    )
