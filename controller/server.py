"""The controller server: the store, the scheduler and the four gRPC services on one port."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO

import grpc

from controller.access import AccessSettings, ServerAccess, check_exposure
from controller.artifacts import ArtifactStore
from controller.batches import BatchService
from controller.coordinator import Coordinator
from controller.events import EventLog, JobEventBus
from controller.joblogs import JobLogs
from controller.metrics import ControllerMetrics
from controller.probes import add_probes
from controller.retention import RetentionConfig, run_retention
from controller.scheduler_types import SchedulerConfig
from controller.services.agent_service import AgentService
from controller.services.artifact_service import ArtifactService, add_artifact_service
from controller.services.farm_service import FarmService
from controller.services.job_service import JobService
from controller.services.template_service import TemplateService
from controller.sqlite_store import SqliteStore
from controller.templates import TemplateCatalog
from controller.watchfolder import WatchFolder
from controller.webhook_delivery import WebhookSender, start_webhooks
from controller.webhooks import WebhookConfig
from protos import (
    agent_pb2_grpc,
    batches_pb2_grpc,
    jobs_pb2_grpc,
    templates_pb2_grpc,
)

logger = logging.getLogger(__name__)

READY_FILE = "controller.json"
LOCK_FILE = "controller.lock"
# Seconds that in-flight calls get to finish when the server stops.
STOP_GRACE_SECONDS = 3.0
# Upload chunks and render tasks stay far below this; gRPC's own default is 4 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Bytes a client may send on one stream ahead of the controller's reads (HTTP/2 window).
RECEIVE_WINDOW_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Keepalive:
    """HTTP/2 pings that find agent streams whose TCP connection died without a close."""

    # Seconds between pings the server sends on an idle connection.
    time_seconds: float = 30.0
    # Seconds to wait for a ping's acknowledgement before the connection counts as dead.
    timeout_seconds: float = 10.0
    # Minimum seconds between client pings the server accepts; agents may ping this often.
    min_client_ping_seconds: float = 10.0


@dataclass(frozen=True)
class ControllerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    # 0 picks a free port; the address in controller.json names the chosen one.
    port: int = 8470
    heartbeat_interval: float = 5.0
    lease_grace: float = 30.0
    max_attempts: int = 3
    retry_delay: float = 2.0
    retry_delay_max: float = 60.0
    quarantine_after: int = 3
    keepalive: Keepalive = Keepalive()
    access: AccessSettings = field(default_factory=AccessSettings)
    # Port of the Prometheus endpoint on metrics_host; None serves no metrics, 0 picks a port.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # Folder whose job files are submitted; None watches no folder.
    watch_folder: Path | None = None
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)

    def scheduler_config(self) -> SchedulerConfig:
        return SchedulerConfig(
            heartbeat_interval=self.heartbeat_interval,
            lease_grace=self.lease_grace,
            max_attempts=self.max_attempts,
            retry_delay=self.retry_delay,
            retry_delay_max=self.retry_delay_max,
            quarantine_after=self.quarantine_after,
        )


def controller_version() -> str:
    try:
        return metadata.version("aefarm")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class ControllerServer:
    """Start with start(), stop with stop(); failed is set when a store write fails."""

    def __init__(self, config: ControllerConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.address = ""
        self.failed = asyncio.Event()
        self.coordinator: Coordinator | None = None
        self._server: grpc.aio.Server | None = None
        self._store: SqliteStore | None = None
        self._lock: IO[str] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._access: ServerAccess | None = None
        self.metrics: ControllerMetrics | None = None
        self.metrics_port = 0
        self.watch_folder: WatchFolder | None = None
        self._webhooks: WebhookSender | None = None
        self._retention: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Open the store, load unfinished jobs, bind the port, write controller.json."""
        config = self.config
        check_exposure(config.host, config.access)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_data_dir(config.data_dir)
        self._store = SqliteStore(config.data_dir / "aefarm.db")
        artifacts = ArtifactStore(config.data_dir / "artifacts")
        coordinator = Coordinator(
            self._store,
            JobLogs(config.data_dir / "logs"),
            JobEventBus(),
            config.scheduler_config(),
            controller_version(),
            self.clock,
        )
        coordinator.on_store_failure = lambda error: self.failed.set()
        self._webhooks = start_webhooks(coordinator, self._store, config.webhooks, self.clock)
        coordinator.bus.log = EventLog(self._store, self.clock)
        coordinator.write_hooks.append(coordinator.bus.log.write_hook)
        coordinator.start()
        self.coordinator = coordinator

        self._access = access = ServerAccess(config.access, config.data_dir)
        server = grpc.aio.server(
            options=_server_options(config), interceptors=access.interceptors()
        )
        access.add_services(server)
        await add_probes(server)
        agent_pb2_grpc.add_AgentServiceServicer_to_server(
            AgentService(coordinator, artifacts), server
        )
        catalog = TemplateCatalog(self._store, artifacts)
        job_service = JobService(coordinator, config.webhooks, catalog)
        jobs_pb2_grpc.add_JobServiceServicer_to_server(job_service, server)
        if config.watch_folder is not None:
            self.watch_folder = WatchFolder(
                config.watch_folder,
                config.data_dir,
                job_service.validate_text,
                lambda spec, source: coordinator.submit(spec, source)[0].id,
            )
        batches_pb2_grpc.add_BatchServiceServicer_to_server(
            BatchService(coordinator, job_service.validate_text), server
        )
        templates_pb2_grpc.add_TemplateServiceServicer_to_server(
            TemplateService(catalog, artifacts, self.clock), server
        )
        jobs_pb2_grpc.add_FarmServiceServicer_to_server(FarmService(coordinator), server)
        add_artifact_service(ArtifactService(artifacts, self._store, self.clock), server)
        host = f"[{config.host}]" if ":" in config.host else config.host
        try:
            port = access.add_port(server, f"{host}:{config.port}")
        except RuntimeError as error:
            raise RuntimeError(
                f"cannot listen on {host}:{config.port} ({error}); another program may use the "
                "port: pick another --port, or 0 for a free one"
            ) from error
        await server.start()
        self._server = server
        self.address = f"{host}:{port}"

        if config.metrics_port is not None:
            self.metrics = ControllerMetrics(coordinator)
            self.metrics_port = self.metrics.serve(config.metrics_port, config.metrics_host)

        tick_interval = min(1.0, config.lease_grace / 5)
        self._ticker = asyncio.create_task(coordinator.run_ticks(tick_interval))
        if config.retention.enabled:
            self._retention = asyncio.create_task(
                run_retention(self._store, artifacts, config.retention, self.clock)
            )
        if self.watch_folder is not None:
            await self.watch_folder.start()
        _write_ready_file(config.data_dir / READY_FILE, self.address, self.metrics_port)
        logger.info("listening on %s", self.address)
        return self.address

    async def stop(self) -> None:
        """Stop accepting calls, close agent and watch streams, and flush the store."""
        if self.address:
            logger.info("stopping the controller on %s", self.address)
            (self.config.data_dir / READY_FILE).unlink(missing_ok=True)
        if self.watch_folder is not None:
            await self.watch_folder.stop()
        if self.coordinator is not None:
            self.coordinator.bus.stop()
            self.coordinator.close_agent_streams()
        if self._server is not None:
            await self._server.stop(STOP_GRACE_SECONDS)
        if self._ticker is not None:
            self._ticker.cancel()
        if self._webhooks is not None:
            await self._webhooks.stop()
        if self._retention is not None:
            self._retention.cancel()
        if self.coordinator is not None and not self.failed.is_set():
            try:
                self.coordinator.flush()
            except sqlite3.Error as error:
                logger.error("flushing the store failed: %s", error)
        if self._store is not None:
            self._store.close()
        if self.metrics is not None:
            self.metrics.close()
        if self._access is not None:
            self._access.close()
        if self._lock is not None:
            self._lock.close()
        logger.info("controller stopped")


def _server_options(config: ControllerConfig) -> list[tuple[str, int]]:
    keepalive = config.keepalive
    return [
        # grpc enables SO_REUSEPORT by default on Linux, which would let a second controller
        # bind the same port and take half of the connections.
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # A fixed HTTP/2 receive window, a bit more than one upload chunk, in place of grpc's
        # BDP probing. BDP probing (grpc 1.85) grows the window past 4 MiB and the peer's
        # frames with it, so a long upload held more memory than a short one.
        # docs/benchmarks.md has the measurements, with the cost on a 10 ms round trip.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", RECEIVE_WINDOW_BYTES),
        ("grpc.keepalive_time_ms", round(keepalive.time_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", round(keepalive.timeout_seconds * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        (
            "grpc.http2.min_ping_interval_without_data_ms",
            round(keepalive.min_client_ping_seconds * 1000),
        ),
    ]


def _write_ready_file(path: Path, address: str, metrics_port: int = 0) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    ready = {"address": address, "pid": os.getpid(), "metrics_port": metrics_port}
    temporary.write_text(json.dumps(ready) + "\n")
    os.replace(temporary, path)


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data dir, so two controllers never share one store."""
    lock = open(data_dir / LOCK_FILE, "a")  # noqa: SIM115 - held open until stop()
    try:
        import fcntl
    except ImportError:
        # NOTE: Windows has no fcntl, so there nothing stops a second controller on this data dir.
        return lock
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RuntimeError(
            f"another controller uses the data dir {data_dir}; stop it or pick another --data-dir"
        ) from None
    return lock
