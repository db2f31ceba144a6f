"""`aefarm up` as a real process with a real controller child and, where present, agents."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

TOP = Path(__file__).resolve().parents[2]
AGENT_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 60.0

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("controller.main") is None,
    reason="controller.main is not in this checkout",
)
needs_agent = pytest.mark.skipif(
    importlib.util.find_spec("agent.main") is None, reason="agent.main is not in this checkout"
)


@dataclass
class RunningUp:
    process: subprocess.Popen[str]
    address: str
    # Lines printed before "farm running".
    lines: list[str]
    stderr_path: Path

    def pid_of(self, name: str) -> int:
        for line in self.lines:
            if line.startswith(f"{name} ") and "(pid " in line:
                return int(line.split("(pid ")[1].split(",")[0])
        raise AssertionError(f"no pid of {name} in {self.lines}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_stderr(self, text: str) -> bool:
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while text not in self.stderr():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def wait_for_exit(self) -> tuple[int, str, str]:
        stdout, _ = self.process.communicate(timeout=60)
        return self.process.returncode, stdout, self.stderr()

    def stop(self) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_for_exit()


def cli_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "AEFARM_CONTROLLER"}


def start_up(data_dir: Path, *args: str) -> RunningUp:
    argv = [sys.executable, "-m", "controller.cli.main", "up", "--port", "0"]
    argv += ["--data-dir", str(data_dir), "--stop-grace", "20", *args]
    stderr_path = data_dir.parent / f"{data_dir.name}-up.err"
    with stderr_path.open("wb") as stderr_file:
        process = subprocess.Popen(
            argv, cwd=TOP, env=cli_env(), stdout=subprocess.PIPE, stderr=stderr_file, text=True
        )
    assert process.stdout is not None
    lines: list[str] = []
    address = ""
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("export AEFARM_CONTROLLER="):
            address = line.strip().split("=", 1)[1]
        if line.startswith("farm running"):
            return RunningUp(process, address, lines, stderr_path)
    process.wait(timeout=60)
    raise AssertionError(f"up exited with {process.returncode}: {lines} {stderr_path.read_text()}")


@pytest.fixture
def farm_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "farm"


def run_cli(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "--controller", address, *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=TOP,
        timeout=120,
        check=False,
    )


def test_up_without_agents(farm_dir: Path) -> None:
    farm = start_up(farm_dir, "--agents", "0")
    try:
        info = json.loads((farm_dir / "controller.json").read_text())
        listed = run_cli(farm.address, "jobs", "--json")
    finally:
        code, stdout, stderr = farm.stop()

    assert farm.address.startswith("127.0.0.1:")
    assert info["address"] == farm.address
    assert farm.lines[0].startswith(f"controller {farm.address} started")
    assert f"export AEFARM_CONTROLLER={farm.address}" in farm.lines
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert code == 0, stderr
    assert stdout.strip().endswith("farm stopped")
    assert (farm_dir / "logs" / "controller.log").exists()


def test_up_reports_controller_exit(farm_dir: Path) -> None:
    farm = start_up(farm_dir, "--agents", "0")
    os.kill(farm.pid_of("controller"), signal.SIGKILL)

    code, _, stderr = farm.wait_for_exit()

    assert code == 1
    assert "controller (pid" in stderr
    assert "exited with code -9" in stderr


def test_up_reports_busy_port(farm_dir: Path, tmp_path: Path) -> None:
    first = start_up(farm_dir, "--agents", "0")
    port = first.address.rsplit(":", 1)[1]
    argv = [sys.executable, "-m", "controller.cli.main", "up", "--agents", "0", "--port", port]
    argv += ["--data-dir", str(tmp_path / "second")]
    try:
        second = subprocess.Popen(
            argv,
            cwd=TOP,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, stderr = second.communicate(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            # A second controller that bound the same port runs until it is stopped.
            second.send_signal(signal.SIGTERM)
            _, stderr = second.communicate(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        first.stop()

    assert second.returncode == 1, stderr
    assert stderr.startswith("aefarm up: the controller exited with code")
    assert str(tmp_path / "second" / "logs" / "controller.log") in stderr


def process_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="uses the Linux parent-death signal")
def test_up_children_stop_when_up_is_killed(farm_dir: Path) -> None:
    farm = start_up(farm_dir, "--agents", "0")
    controller_pid = farm.pid_of("controller")

    farm.process.kill()
    farm.process.communicate(timeout=60)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while not process_gone(controller_pid) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert process_gone(controller_pid)


def wait_for_agents(address: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + AGENT_TIMEOUT_SECONDS
    while True:
        listed = run_cli(address, "agents", "--json")
        assert listed.returncode == 0, listed.stderr
        agents: list[dict[str, object]] = json.loads(listed.stdout)
        connected = [agent for agent in agents if agent["state"] == "connected"]
        if len(connected) >= count:
            return connected
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(connected)} of {count} agents connected: {agents}")
        time.sleep(0.2)


@needs_agent
def test_up_starts_simulated_agents(farm_dir: Path) -> None:
    farm = start_up(farm_dir, "--agents", "2", "--simulate")
    try:
        agents = wait_for_agents(farm.address, 2)
    finally:
        code, _, stderr = farm.stop()

    assert sorted(str(agent["id"]) for agent in agents) == ["agent-1", "agent-2"]
    assert any(line.startswith("agent-2 started") for line in farm.lines)
    assert (farm_dir / "agents" / "agent-1").is_dir()
    assert code == 0, stderr


@needs_agent
def test_up_keeps_running_after_agent_exit(farm_dir: Path) -> None:
    farm = start_up(farm_dir, "--agents", "2", "--simulate")
    try:
        wait_for_agents(farm.address, 2)
        os.kill(farm.pid_of("agent-1"), signal.SIGKILL)
        reported = farm.wait_for_stderr("agent-1 (pid")
        still_running = farm.process.poll() is None
        listed = run_cli(farm.address, "jobs", "--json")
    finally:
        code, _, stderr = farm.stop()

    assert reported, stderr
    assert still_running
    assert listed.returncode == 0, listed.stderr
    assert "exited with code -9" in stderr
    assert "the rest of the farm keeps running" in stderr
    assert code == 0
