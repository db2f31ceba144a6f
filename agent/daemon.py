"""The render agent: ties the controller connection, the lease runner and the outbox together."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import socket
import time

from agent.artifacts import ArtifactClient
from agent.backoff import BackoffSettings
from agent.cache import FileCache
from agent.codecs import load_catalog
from agent.config import AgentConfig
from agent.connection import ChannelSettings, ControllerConnection
from agent.engine_config import Engine
from agent.errors import LeaseFailure
from agent.fetch import Fetcher
from agent.lease_journal import LeaseJournal
from agent.leases import LeaseRunner
from agent.outbox import Outbox
from agent.pipeline import PipelineServices
from agent.workspace import Workspaces
from protos import agent_pb2

logger = logging.getLogger(__name__)


def agent_version() -> str:
    try:
        return importlib.metadata.version("aefarm")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class RenderAgent:
    def __init__(
        self,
        config: AgentConfig,
        engines: list[Engine],
        *,
        fonts: list[str] | None = None,
        backoff: BackoffSettings | None = None,
        channel_settings: ChannelSettings | None = None,
    ) -> None:
        self.config = config
        self.engines = engines
        self.fonts = fonts or []
        self._acknowledged = asyncio.Event()

        self.outbox = Outbox(config.outbox_dir)
        self.journal = LeaseJournal(config.journal_dir)
        # Leases cut off by the previous run; named in Hello until a controller welcomed them.
        self._interrupted = self.journal.recorded()
        self.workspaces = Workspaces(config.leases_dir, config.keep_failed_workspaces)
        self.workspaces.clean_at_start()

        self.connection = ControllerConnection(
            config.controller, self, backoff=backoff, channel_settings=channel_settings
        )
        artifacts = ArtifactClient(self.connection.channel)
        services = PipelineServices(
            fetcher=Fetcher(
                config.file_roots,
                artifacts.download,
                cache=FileCache(config.cache_dir, config.cache_max_bytes),
                path_map=config.inputs.path_mapper(),
            ),
            inputs=config.inputs,
            output_dir=config.output_dir,
            artifacts=artifacts,
            engines={engine.name: engine for engine in engines},
            mfr_cpu_percent=config.mfr_cpu_percent,
            default_hang_timeout=config.hang_timeout,
            stuck_exit_grace=config.stuck_exit_grace,
            codec_catalog=load_catalog(config.codec_catalog_file),
        )

        self.runner = LeaseRunner(
            agent_id=config.agent_id,
            slots=config.slots,
            services=services,
            workspaces=self.workspaces,
            outbox=self.outbox,
            journal=self.journal,
            send=self.connection.send,
        )

        if self._interrupted:
            logger.warning(
                "%d leases were interrupted by the previous run: %s",
                len(self._interrupted),
                ", ".join(lease.lease_id for lease in self._interrupted),
            )

    async def run(self, shutdown: asyncio.Event, hurry: asyncio.Event | None = None) -> None:
        """Serve leases until shutdown is set, drain, then stop the renders and report them.

        The drain lasts up to config.drain_grace seconds, or until hurry is set.
        """
        logger.info(
            "agent %s starting: controller %s, %d slots, engines %s",
            self.config.agent_id,
            self.config.controller,
            self.config.slots,
            ", ".join(f"{e.name}={e.version or '?'}" for e in self.engines) or "none",
        )
        connection = asyncio.create_task(self.connection.run(), name="controller-connection")
        await shutdown.wait()
        await self._drain(hurry or asyncio.Event())
        logger.info("shutting down: stopping %d running leases", len(self.runner.running()))
        await self.runner.stop_all(
            LeaseFailure(
                "agent_shutdown", "the agent was stopped during the render", retryable=True
            )
        )
        await self._wait_for_acks()
        await self.connection.close()
        await connection
        logger.info("agent %s stopped", self.config.agent_id)

    async def _drain(self, hurry: asyncio.Event) -> None:
        """Take no new leases and wait up to config.drain_grace for the running ones to end.

        The controller learns of the drain from the next heartbeat, sent at once here.
        """
        self.runner.accepting = False
        self.connection.send(agent_pb2.AgentMessage(heartbeat=self.heartbeat()))
        running = len(self.runner.running())
        if running == 0 or self.config.drain_grace <= 0:
            return
        logger.info(
            "draining: waiting up to %g s for %d running leases to finish",
            self.config.drain_grace,
            running,
        )
        deadline = time.monotonic() + self.config.drain_grace
        while self.runner.running() and time.monotonic() < deadline and not hurry.is_set():
            await asyncio.sleep(min(0.2, max(deadline - time.monotonic(), 0.0)))
        if self.runner.running():
            logger.warning(
                "drain grace of %g s is over: stopping %d leases, which are requeued",
                self.config.drain_grace,
                len(self.runner.running()),
            )

    async def _wait_for_acks(self) -> None:
        """Wait until the controller acknowledged the results stored so far.

        The wait also ends when the connection is lost or after config.shutdown_ack_wait
        seconds. Results without an Ack stay in the outbox for the next start.
        """
        waiting = {result.result_id for result in self.outbox.pending()}
        deadline = time.monotonic() + self.config.shutdown_ack_wait
        while self.connection.connected and any(map(self.outbox.get, waiting)):
            self._acknowledged.clear()
            # The short wait also notices a lost connection, which sets no event.
            wait = min(0.5, deadline - time.monotonic())
            if wait <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._acknowledged.wait()
        pending = len(self.outbox.pending())
        if pending:
            logger.warning("%d results stay in the outbox for the next start", pending)

    # The methods below implement connection.ControllerHandler.

    def hello(self) -> agent_pb2.Hello:
        return agent_pb2.Hello(
            agent_id=self.config.agent_id,
            host=socket.gethostname(),
            version=agent_version(),
            engines=[engine.to_proto() for engine in self.engines],
            slots=self.config.slots,
            pools=list(self.config.pools),
            running=self.runner.running(),
            fonts=self.fonts,
            interrupted=self._interrupted,
            draining=not self.runner.accepting,
        )

    def heartbeat(self) -> agent_pb2.Heartbeat:
        return agent_pb2.Heartbeat(
            running=self.runner.running(), draining=not self.runner.accepting
        )

    async def on_welcome(self, welcome: agent_pb2.Welcome) -> None:
        for lease in self._interrupted:
            self.journal.forget(lease.lease_id)
        self._interrupted = []
        for lease_id in welcome.stop_lease_ids:
            stopped = self.runner.cancel(
                lease_id,
                LeaseFailure(
                    "lease_not_current",
                    "the controller no longer holds this lease (it expired during a disconnect)",
                    retryable=True,
                ),
            )
            if stopped:
                logger.warning(
                    "stopping lease %s: it is no longer current on the controller", lease_id
                )

    async def on_connected(self) -> None:
        pending = self.outbox.pending()
        if pending:
            logger.info("resending %d results from the outbox", len(pending))
        for result in pending:
            self.connection.send(agent_pb2.AgentMessage(result=result))

    async def on_message(self, message: agent_pb2.ControllerMessage) -> None:
        body = message.WhichOneof("body")
        if body == "lease":
            self.runner.start(message.lease)
        elif body == "cancel":
            cancel = message.cancel
            reason = cancel.reason or "cancelled by the controller"
            stopped = self.runner.cancel(
                cancel.lease_id, LeaseFailure("cancelled", reason, retryable=False)
            )
            if not stopped:
                logger.info("cancel for lease %s, which is not running: ignored", cancel.lease_id)
        elif body == "ack":
            self.runner.acknowledge(message.ack)
            self._acknowledged.set()
        elif body == "welcome":
            logger.warning("ignoring a second Welcome on the same stream")
        else:
            logger.warning("ignoring a controller message without a known body: %s", body)
