"""The up command: run a controller and N agents on this machine as child processes.

The farm runs until Ctrl-C or SIGTERM. Agents stop first, so each can report its running
leases as interrupted to a controller that is still there, then the controller stops.

A child that exits on its own is reported with its exit code and the end of its log. An agent
that exits is not restarted and the rest of the farm keeps running, so a test or a user can
stop one agent on purpose. When the controller exits, the agents stop and up exits with 1.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from controller.cli.console import print_error
from controller.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError

logger = logging.getLogger(__name__)

# Seconds the controller may take to write controller.json after it starts.
CONTROLLER_START_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.2
LOG_TAIL_LINES = 20


@dataclass
class Child:
    """One process of the farm and the log file its stdout and stderr go to."""

    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    reported_exit: bool = False

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_path.open("ab")
        # A session of its own keeps the terminal's Ctrl-C away from the child, so up decides
        # the order in which the farm stops.
        # NOTE: outside Linux, children of an up that is killed with SIGKILL keep running.
        self.process = subprocess.Popen(
            self.command,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=os.name == "posix",
            preexec_fn=terminate_with_parent if sys.platform == "linux" else None,
        )
        logger.info("started %s, pid %d: %s", self.name, self.process.pid, self.command)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as error:
            return f"(cannot read {self.log_path}: {error})"
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def close_log(self) -> None:
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None


# prctl option that sends the child a signal when the thread that started it exits, from
# <linux/prctl.h>.
PR_SET_PDEATHSIG = 1


def terminate_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child when up exits, even when up is killed.

    Runs in the child between fork and exec. up starts its children from its main thread,
    which exits only with up.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class FarmOptions:
    data_dir: Path
    port: int
    agents: int
    simulate: bool
    slots: int | None
    file_roots: list[Path]
    heartbeat_interval: float | None
    lease_grace: float | None
    stop_grace: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> FarmOptions:
        roots = args.file_root or [os.getcwd()]
        return cls(
            data_dir=Path(args.data_dir).expanduser().resolve(),
            port=args.port,
            agents=args.agents,
            simulate=args.simulate,
            slots=args.slots,
            file_roots=[Path(root).expanduser().resolve() for root in roots],
            heartbeat_interval=args.heartbeat_interval,
            lease_grace=args.lease_grace,
            stop_grace=args.stop_grace,
        )


def controller_command(options: FarmOptions) -> list[str]:
    command = [sys.executable, "-m", "controller.main", "--host", "127.0.0.1"]
    command += ["--port", str(options.port), "--data-dir", str(options.data_dir)]
    if options.heartbeat_interval is not None:
        command += ["--heartbeat-interval", f"{options.heartbeat_interval:g}"]
    if options.lease_grace is not None:
        command += ["--lease-grace", f"{options.lease_grace:g}"]
    return command


def agent_command(options: FarmOptions, address: str, agent_id: str) -> list[str]:
    work_dir = options.data_dir / "agents" / agent_id
    command = [sys.executable, "-m", "agent.main", "--controller", address]
    command += ["--work-dir", str(work_dir), "--agent-id", agent_id]
    if options.simulate:
        command.append("--simulate")
    if options.slots is not None:
        command += ["--slots", str(options.slots)]
    for root in options.file_roots:
        command += ["--file-root", str(root)]
    return command


@dataclass
class Farm:
    """The embedded controller and agents, started and stopped in order."""

    options: FarmOptions
    stop_requested: threading.Event = field(default_factory=threading.Event)
    controller: Child | None = None
    agents: list[Child] = field(default_factory=list)

    @property
    def log_dir(self) -> Path:
        return self.options.data_dir / "logs"

    def start_controller(self) -> str:
        """Start the controller and return its address once it has written controller.json."""
        info_path = self.options.data_dir / "controller.json"
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        # A file left by an earlier run would give the old address.
        info_path.unlink(missing_ok=True)

        self.controller = Child(
            "controller", controller_command(self.options), self.log_dir / "controller.log"
        )
        self.controller.start()
        address = wait_for_controller_info(self.controller, info_path, self.stop_requested)
        log_path = self.controller.log_path
        print(f"controller {address} started (pid {self.controller.pid}, log {log_path})")
        print(f"export AEFARM_CONTROLLER={address}", flush=True)
        return address

    def start_agents(self, address: str) -> None:
        engines = "simulated engines" if self.options.simulate else "installed engines"
        for index in range(1, self.options.agents + 1):
            agent_id = f"agent-{index}"
            (self.options.data_dir / "agents" / agent_id).mkdir(parents=True, exist_ok=True)
            command = agent_command(self.options, address, agent_id)
            agent = Child(agent_id, command, self.log_dir / f"{agent_id}.log")
            agent.start()
            self.agents.append(agent)
            print(
                f"{agent_id} started (pid {agent.pid}, {engines}, log {agent.log_path})",
                flush=True,
            )

    def supervise(self) -> int:
        """Wait for a stop request or the controller's exit, reporting children that exit."""
        assert self.controller is not None
        while not self.stop_requested.wait(POLL_INTERVAL_SECONDS):
            for agent in self.agents:
                code = agent.exit_code()
                if code is not None and not agent.reported_exit:
                    agent.reported_exit = True
                    report_exit(agent, code, "the rest of the farm keeps running")
            code = self.controller.exit_code()
            if code is not None:
                self.controller.reported_exit = True
                report_exit(self.controller, code, "stopping the agents")
                return EXIT_FAILED
        return EXIT_OK

    def running_children(self) -> list[Child]:
        children = [*self.agents, *([self.controller] if self.controller else [])]
        return [child for child in children if child.exit_code() is None]

    def stop(self) -> None:
        """Stop the agents, then the controller: SIGTERM, then SIGKILL after the grace time."""
        stop_children(self.agents, self.options.stop_grace)
        if self.controller is not None:
            stop_children([self.controller], self.options.stop_grace)
        for child in [*self.agents, *([self.controller] if self.controller else [])]:
            child.close_log()


def wait_for_controller_info(child: Child, info_path: Path, stop: threading.Event) -> str:
    """Return the address in controller.json once the child has written it.

    Raises CliError when the child exits first or does not write it in time.
    """
    deadline = time.monotonic() + CONTROLLER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        code = child.exit_code()
        if code is not None:
            child.reported_exit = True
            raise CliError(
                f"the controller exited with code {code} before it was ready; "
                f"the end of {child.log_path}:\n{child.log_tail()}",
                EXIT_FAILED,
            )
        address = read_controller_info(info_path, child.pid)
        if address:
            return address
        if stop.wait(POLL_INTERVAL_SECONDS):
            raise CliError("stopped before the controller was ready", EXIT_INTERRUPTED)
    raise CliError(
        f"the controller did not write {info_path} within "
        f"{CONTROLLER_START_TIMEOUT_SECONDS:g} s; see {child.log_path}",
        EXIT_FAILED,
    )


def read_controller_info(info_path: Path, pid: int) -> str | None:
    """Return the address in controller.json if the process with pid wrote it completely."""
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        # The file is missing or only partly written.
        return None
    if not isinstance(info, dict) or not isinstance(info.get("address"), str):
        return None
    if info.get("pid") not in (None, pid):
        return None
    return str(info["address"])


def report_exit(child: Child, code: int, consequence: str) -> None:
    print_error(
        f"{child.name} (pid {child.pid}) exited with code {code}; {consequence}. "
        f"The end of {child.log_path}:\n{child.log_tail()}"
    )


def stop_children(children: Sequence[Child], grace_seconds: float) -> None:
    running = [child for child in children if child.exit_code() is None]
    for child in running:
        assert child.process is not None
        child.process.terminate()
    deadline = time.monotonic() + grace_seconds
    for child in running:
        assert child.process is not None
        try:
            child.process.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %g s, killing it", child.name, grace_seconds)
            print_error(f"{child.name} did not stop within {grace_seconds:g} s; killing it")
            child.process.kill()
            child.process.wait()
        logger.info("%s stopped with code %s", child.name, child.process.returncode)


def run_up(args: argparse.Namespace) -> int:
    options = FarmOptions.from_args(args)
    farm = Farm(options)

    def request_stop(signum: int, frame: FrameType | None) -> None:
        farm.stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        address = farm.start_controller()
        farm.start_agents(address)
        noun = "agent" if options.agents == 1 else "agents"
        print(f"farm running with {options.agents} {noun}; press Ctrl-C to stop it", flush=True)
        code = farm.supervise()
    finally:
        if farm.running_children():
            print_error("stopping the farm")
        farm.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("farm stopped", flush=True)
    return code
