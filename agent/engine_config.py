"""The engines an agent offers: discovered aerender installs, or the simulator."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.engines import EngineInfo, discover_engines
from protos import agent_pb2

logger = logging.getLogger(__name__)

# The versions the simulator reports for each engine, in aerender's `-version` format.
SIMULATED_VERSIONS = {"ae2025": "25.6x101", "ae2026": "26.0x55"}
SIMULATOR_VERSION_ENV = "AEFARM_SIM_VERSION"


@dataclass(frozen=True)
class Engine:
    name: str
    version: str
    # The program and its leading arguments: the aerender path, or the simulator module.
    command: tuple[str, ...]
    available: bool = True
    unavailable_reason: str = ""
    # Variables added to the environment of every render with this engine.
    env: Mapping[str, str] = field(default_factory=dict)

    def to_proto(self) -> agent_pb2.Engine:
        return agent_pb2.Engine(
            name=self.name,
            version=self.version,
            path=" ".join(self.command),
            available=self.available,
            unavailable_reason=self.unavailable_reason,
        )

    @classmethod
    def from_info(cls, info: EngineInfo) -> Engine:
        return cls(
            name=info.name,
            version=info.version,
            command=(str(info.path),),
            available=info.available,
            unavailable_reason=info.unavailable_reason,
        )


def simulated_engines() -> list[Engine]:
    """Every engine runs the aerender simulator with the version of that engine."""
    command = (sys.executable, "-m", "agent.simulator")
    return [
        Engine(name, version, command, env={SIMULATOR_VERSION_ENV: version})
        for name, version in SIMULATED_VERSIONS.items()
    ]


async def installed_engines(configured: Mapping[str, str], cache_file: Path | None) -> list[Engine]:
    """Discover the aerender installs of this box; configured name -> path entries win."""
    infos = await discover_engines(configured, cache_file)
    engines = [Engine.from_info(info) for info in infos]
    if not any(engine.available for engine in engines):
        logger.warning(
            "no After Effects engine is available on this agent; give --engine NAME=PATH, or "
            "--simulate to use the aerender simulator"
        )
    return engines
