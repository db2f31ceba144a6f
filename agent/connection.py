"""The agent's stream to the controller: connect, say Hello, heartbeat, reconnect.

The agent dials out and keeps one AgentService.Connect stream open. After each (re)connect it
sends a Hello naming the leases it still runs, reads the Welcome, and then sends heartbeats at
the interval the Welcome sets while it receives leases, cancels and acks. When the stream
breaks, it reconnects with capped, jittered exponential backoff; renders keep running
meanwhile. What each gRPC status code leads to is decided in agent.grpc_status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from agent.backoff import Backoff, BackoffSettings, sleep_unless
from agent.errors import LeaseFailure
from agent.grpc_status import Action, action_for
from agent.tls import ChannelSecurity, open_channel
from protos import agent_pb2, agent_pb2_grpc

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_INTERVAL = 5.0


@dataclass(frozen=True)
class ChannelSettings:
    """gRPC channel options. Keepalive pings find a controller that vanished without closing
    the connection (a power cut, a dropped route) within about time + timeout."""

    keepalive_time_ms: int = 20_000
    keepalive_timeout_ms: int = 10_000
    max_message_bytes: int = 16 * 1024 * 1024
    # Seconds to wait for the Welcome after opening the stream.
    welcome_timeout: float = 30.0
    # Seconds a stage that needs the controller (an upload) waits for a connection.
    connection_wait: float = 300.0
    # TLS and token of the channel; None connects without either.
    security: ChannelSecurity | None = None

    def options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.keepalive_time_ms", self.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", self.keepalive_timeout_ms),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
        ]


class ControllerHandler(Protocol):
    """Handler of the controller's messages; the agent implements it."""

    def hello(self) -> agent_pb2.Hello: ...

    def heartbeat(self) -> agent_pb2.Heartbeat: ...

    async def on_welcome(self, welcome: agent_pb2.Welcome) -> None: ...

    async def on_connected(self) -> None: ...

    async def on_message(self, message: agent_pb2.ControllerMessage) -> None: ...


class ProtocolError(Exception):
    """The controller broke the stream's protocol, for example by not starting with Welcome."""


@dataclass
class _Session:
    channel: grpc.aio.Channel
    queue: asyncio.Queue[agent_pb2.AgentMessage | None] = field(default_factory=asyncio.Queue)


class ControllerConnection:
    def __init__(
        self,
        target: str,
        handler: ControllerHandler,
        *,
        backoff: BackoffSettings | None = None,
        channel_settings: ChannelSettings | None = None,
    ) -> None:
        self.target = target
        self.handler = handler
        self.channel_settings = channel_settings or ChannelSettings()
        self._backoff = Backoff(backoff or BackoffSettings())
        self._closing = asyncio.Event()
        self._connected = asyncio.Event()
        self._session: _Session | None = None
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._session is not None

    def send(self, message: agent_pb2.AgentMessage) -> bool:
        """Queue message on the open stream; return False when there is none."""
        session = self._session
        if session is None:
            return False
        session.queue.put_nowait(message)
        return True

    async def channel(self) -> grpc.aio.Channel:
        """Return the channel of the open connection, waiting for a reconnect if needed.

        Raises LeaseFailure when the agent shuts down or no connection comes in time.
        """
        if self._session is None:
            waiter = asyncio.ensure_future(self._connected.wait())
            closing = asyncio.ensure_future(self._closing.wait())
            try:
                await asyncio.wait(
                    [waiter, closing],
                    timeout=self.channel_settings.connection_wait,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
                closing.cancel()
        session = self._session
        if session is None:
            if self._closing.is_set():
                raise LeaseFailure("agent_shutdown", "the agent is shutting down", retryable=True)
            raise LeaseFailure(
                "controller_unreachable",
                f"no connection to the controller at {self.target} for "
                f"{self.channel_settings.connection_wait:.0f} s",
                retryable=True,
            )
        return session.channel

    async def close(self) -> None:
        self._closing.set()

    async def run(self) -> None:
        """Stay connected until close(); every wait ends early when close() is called."""
        while not self._closing.is_set():
            connects_before = self.connects
            action, reason = await self._connect_once()
            if self._closing.is_set():
                break
            if action is Action.RETRY_SLOWLY:
                delay = self._backoff.maximum_delay()
                logger.error(
                    "the controller at %s rejected this agent (%s): fix its credentials; "
                    "retrying in %.1f s",
                    self.target,
                    reason,
                    delay,
                )
            else:
                delay = self._backoff.next_delay()
                log = logger.warning if action is Action.RETRY else logger.error
                if self.connects > connects_before:
                    text = "connection to %s lost (%s): reconnecting in %.1f s"
                else:
                    text = "cannot connect to %s (%s): retrying in %.1f s"
                log(text, self.target, reason, delay)
            await sleep_unless(self._closing, delay)
        logger.info("connection to %s closed", self.target)

    async def _connect_once(self) -> tuple[Action, str]:
        session_task = asyncio.create_task(self._run_session(), name="controller-session")
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait([session_task, closing], return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
        if not session_task.done():
            session_task.cancel()
            try:
                await session_task
            except asyncio.CancelledError:
                # Re-raise when this task itself is being cancelled, not only the session.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            except grpc.aio.AioRpcError:
                pass
            return Action.RETRY, "closing"
        try:
            session_task.result()
        except grpc.aio.AioRpcError as error:
            return action_for(error.code()), f"{error.code().name}: {error.details()}"
        except (ProtocolError, TimeoutError) as error:
            return Action.FAIL, str(error) or type(error).__name__
        except Exception as error:
            # A bug in a handler must not end the connection loop and leave the agent offline.
            logger.exception("the controller session failed")
            return Action.FAIL, f"{type(error).__name__}: {error}"
        return Action.RETRY, "the controller ended the stream"

    async def _run_session(self) -> None:
        settings = self.channel_settings
        async with open_channel(self.target, settings.options(), settings.security) as channel:
            session = _Session(channel)
            session.queue.put_nowait(agent_pb2.AgentMessage(hello=self.handler.hello()))
            call = agent_pb2_grpc.AgentServiceStub(channel).Connect(_requests(session.queue))
            heartbeats: asyncio.Task[None] | None = None
            try:
                welcome = await self._read_welcome(call)
                self._session = session
                self._connected.set()
                self.connects += 1
                self._backoff.reset()
                logger.info(
                    "connected to controller %s (version %s), heartbeat every %d ms",
                    self.target,
                    welcome.controller_version or "unknown",
                    welcome.heartbeat_interval_ms,
                )
                await self.handler.on_welcome(welcome)
                interval = welcome.heartbeat_interval_ms / 1000 or DEFAULT_HEARTBEAT_INTERVAL
                heartbeats = asyncio.create_task(self._send_heartbeats(interval))
                await self.handler.on_connected()
                await self._read_messages(call)
            finally:
                self._session = None
                self._connected.clear()
                session.queue.put_nowait(None)
                if heartbeats is not None:
                    heartbeats.cancel()
                call.cancel()

    async def _read_welcome(self, call: grpc.aio.StreamStreamCall) -> agent_pb2.Welcome:
        timeout = self.channel_settings.welcome_timeout
        # In Python 3.11, wait_for can swallow a cancellation that arrives together with the
        # Welcome, and the session then outlives close(); asyncio.timeout re-raises it.
        try:
            async with asyncio.timeout(timeout):
                first = await call.read()
        except TimeoutError:
            raise ProtocolError(f"no Welcome from the controller within {timeout:.0f} s") from None
        if first is grpc.aio.EOF:
            raise ProtocolError("the controller ended the stream before its Welcome")
        if first.WhichOneof("body") != "welcome":
            raise ProtocolError(
                f"the controller's first message is {first.WhichOneof('body')}, not welcome"
            )
        return first.welcome

    async def _read_messages(self, call: grpc.aio.StreamStreamCall) -> None:
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                return
            try:
                await self.handler.on_message(message)
            except Exception:
                # One bad message must not drop the stream and every lease's progress with it.
                logger.exception("handling a %s message failed", message.WhichOneof("body"))

    async def _send_heartbeats(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.send(agent_pb2.AgentMessage(heartbeat=self.handler.heartbeat()))


async def _requests(
    queue: asyncio.Queue[agent_pb2.AgentMessage | None],
) -> AsyncIterator[agent_pb2.AgentMessage]:
    while True:
        message = await queue.get()
        if message is None:
            return
        yield message
