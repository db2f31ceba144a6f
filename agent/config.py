"""The settings of one agent process."""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.cache import DEFAULT_MAX_BYTES
from agent.input_options import InputOptions
from agent.workspace import DEFAULT_KEEP_FAILED

logger = logging.getLogger(__name__)

DEFAULT_HANG_TIMEOUT = 600.0
# Seconds a finished render may take to exit before its tree is stopped and it completes.
DEFAULT_STUCK_EXIT_GRACE = 30.0


def default_agent_id(work_dir: Path) -> str:
    """Return `<host name>-<8 hex digits of the work-dir path>`: stable across restarts, and
    distinct for two agents on one box with different work dirs."""
    digest = hashlib.sha256(str(work_dir.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"{socket.gethostname()}-{digest}"


@dataclass(frozen=True)
class AgentConfig:
    # host:port of the controller's gRPC endpoint.
    controller: str
    work_dir: Path
    agent_id: str
    slots: int = 1
    pools: tuple[str, ...] = ()
    # Engine name -> aerender path, overriding discovered installs.
    engines: Mapping[str, str] = field(default_factory=dict)
    # Folders file:// sources and local paths may read from; empty refuses every local file.
    file_roots: tuple[Path, ...] = ()
    # Folder (already path-mapped) that receives every output as <job id>/<name> instead of
    # the controller's artifact store. None uploads to the store. A job's own upload wins.
    output_dir: Path | None = None
    # Run the aerender simulator for every engine; never on by default.
    simulate: bool = False
    keep_failed_workspaces: int = DEFAULT_KEEP_FAILED
    mfr_cpu_percent: int = 100
    # Seconds without output before a render counts as hung, when the job sets no limit.
    hang_timeout: float = DEFAULT_HANG_TIMEOUT
    stuck_exit_grace: float = DEFAULT_STUCK_EXIT_GRACE
    # JSON file of codec catalog entries that add to or replace the built-in ones.
    codec_catalog_file: Path | None = None
    cache_max_bytes: int = DEFAULT_MAX_BYTES
    # Path mapping, scripts and fonts (agent/input_options.py).
    inputs: InputOptions = field(default_factory=InputOptions)
    # Seconds to wait at shutdown for the controller to acknowledge the last results.
    shutdown_ack_wait: float = 10.0
    # Seconds a stop waits for running renders to finish before it stops them. The command line
    # default is 600 (agent.main.DEFAULT_DRAIN_GRACE); 0 here stops them at once.
    drain_grace: float = 0.0
    # PEM files of TLS to the controller; tls_ca None connects without TLS.
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # File of the agent's bearer token; None sends no token (a client certificate may do).
    token_file: Path | None = None
    # Port of the Prometheus endpoint on metrics_host; None serves no metrics, 0 picks one.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    @property
    def outbox_dir(self) -> Path:
        return self.work_dir / "outbox"

    @property
    def leases_dir(self) -> Path:
        return self.work_dir / "leases"

    @property
    def journal_dir(self) -> Path:
        return self.work_dir / "running"

    @property
    def cache_dir(self) -> Path:
        return self.work_dir / "cache"

    @property
    def engines_cache_file(self) -> Path:
        return self.work_dir / "engines.json"
