"""A process that keeps a swarm of idle simulated agents connected until its stdin closes.

    python -m bench.swarm_worker ADDRESS COUNT PREFIX

It prints `ready RECONNECTS WELCOMED` once every agent has its Welcome, or after 90 s with
the number that got one. Several such processes spread thousands of
agent streams over cores, while the measuring process keeps a few probe agents of its own.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import subprocess
import sys
import time

from bench.controller_proc import TOP
from bench.loadgen import Swarm

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 90.0


def raise_open_file_limit() -> None:
    """Raise RLIMIT_NOFILE to the hard limit: each gRPC channel takes file descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def hold(address: str, count: int, prefix: str) -> None:
    swarm = Swarm(address, count, prefix=prefix)
    welcomed = await swarm.start(timeout=READY_TIMEOUT_SECONDS, require_all=False)
    print(f"ready {swarm.stats.reconnects} {welcomed}", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await swarm.stop()


class SwarmProcess:
    """The main process's handle on one swarm_worker process."""

    def __init__(self, address: str, count: int, prefix: str) -> None:
        self.count = count
        # Streams that failed and were opened again before every agent had its Welcome.
        self.reconnects = 0
        # Agents that got a Welcome by the time the worker reported ready.
        self.welcomed = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.swarm_worker", address, str(count), prefix],
            cwd=TOP,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        started = time.monotonic()
        line = self.process.stdout.readline().split()
        if line[:1] == ["ready"]:
            self.reconnects, self.welcomed = int(line[1]), int(line[2])
        else:
            raise RuntimeError(
                f"a swarm of {self.count} agents failed to connect (exit {self.process.poll()}) "
                f"after {time.monotonic() - started:.0f} s"
            )

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    raise_open_file_limit()
    address, count, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    asyncio.run(hold(address, count, prefix))


if __name__ == "__main__":
    main()
