"""A real controller process for a benchmark, and samples of its CPU time and memory."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)

TOP = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 30.0


@dataclass
class Usage:
    """CPU use and memory of a process over a window of wall time."""

    cpu_percent: float
    rss_bytes: int
    seconds: float


class ControllerProcess:
    """`python -m controller.main --port 0` on its own data dir, logging to a file."""

    def __init__(
        self, data_dir: Path, heartbeat_interval: float = 5.0, lease_grace: float = 30.0
    ) -> None:
        self.data_dir = data_dir
        self.heartbeat_interval = heartbeat_interval
        self.lease_grace = lease_grace
        self.address = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.handle: psutil.Process | None = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ready = self.data_dir / "controller.json"
        ready.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "controller.main", "--port", "0"]
        argv += ["--data-dir", str(self.data_dir)]
        argv += ["--heartbeat-interval", f"{self.heartbeat_interval:g}"]
        argv += ["--lease-grace", f"{self.lease_grace:g}"]
        log = open(self.data_dir / "controller.log", "ab")  # noqa: SIM115 - the child keeps it
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            argv, cwd=TOP, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready.exists():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the controller exited with {self.process.returncode}; see "
                    f"{self.data_dir / 'controller.log'}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the controller was not ready within {START_TIMEOUT_SECONDS} s")
            time.sleep(0.02)
        self.address = json.loads(ready.read_text())["address"]
        self.handle = psutil.Process(self.process.pid)
        return self.address

    def usage(self) -> tuple[float, int]:
        """Return the CPU seconds used so far (user + system) and the resident memory."""
        assert self.handle is not None
        times = self.handle.cpu_times()
        return times.user + times.system, self.handle.memory_info().rss

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            logger.warning("the controller did not stop within 20 s of SIGTERM; killing it")
            self.process.kill()
            self.process.wait()


class UsageWindow:
    """Measure a process's CPU percent of one core between start() and stop()."""

    def __init__(self, controller: ControllerProcess) -> None:
        self.controller = controller
        self._cpu = 0.0
        self._wall = 0.0

    def start(self) -> None:
        self._cpu, _ = self.controller.usage()
        self._wall = time.monotonic()

    def stop(self) -> Usage:
        cpu, rss = self.controller.usage()
        seconds = time.monotonic() - self._wall
        return Usage(100.0 * (cpu - self._cpu) / seconds, rss, seconds)
