"""The controller and the agent speak systemd's notify protocol, and the agent runs under
systemd-run where this machine has a systemd to ask."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.farm import TOP, Farm

pytestmark = pytest.mark.e2e


def receive_until(sock: socket.socket, expected: str, timeout: float = 30.0) -> list[str]:
    """Collect datagrams until one equals expected; return all of them."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while expected not in seen:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            raise AssertionError(f"no {expected} within {timeout} s; got {seen}") from None
    return seen


@pytest.fixture
def notify_socket(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    yield sock, path
    sock.close()


def test_controller_notifies_ready_watchdog_stopping(tmp_path: Path, notify_socket) -> None:  # type: ignore[no-untyped-def]
    sock, path = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}
    argv = [sys.executable, "-m", "controller.main", "--data-dir", str(tmp_path / "c")]
    process = subprocess.Popen([*argv, "--port", "0"], cwd=TOP, env=env, stderr=subprocess.PIPE)
    try:
        started = receive_until(sock, "READY=1")
        pings = receive_until(sock, "WATCHDOG=1")
        process.send_signal(signal.SIGTERM)
        stopping = receive_until(sock, "STOPPING=1")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert "READY=1" in started
    assert "WATCHDOG=1" in pings
    assert "STOPPING=1" in stopping


def test_agent_notifies_ready_and_stopping(tmp_path: Path, notify_socket) -> None:  # type: ignore[no-untyped-def]
    sock, path = notify_socket
    farm = Farm(tmp_path)
    try:
        farm.start_controller()
        env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}
        farm.start_agent("agent-1", env=env)
        started = receive_until(sock, "READY=1")
        pings = receive_until(sock, "WATCHDOG=1")
        farm.agents["agent-1"].send_signal(signal.SIGTERM)
        stopping = receive_until(sock, "STOPPING=1")
    finally:
        farm.stop()

    assert "READY=1" in started
    assert "WATCHDOG=1" in pings
    assert "STOPPING=1" in stopping


def systemd_run_prefix() -> list[str]:
    """Return the systemd-run command usable here, or skip with the reason."""
    if shutil.which("systemd-run") is None:
        pytest.skip("systemd-run is not installed on this machine")
    for prefix in (["systemd-run", "--user"], ["systemd-run"]):
        probe = subprocess.run(
            [*prefix, "--quiet", "--wait", "--collect", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.returncode == 0:
            return prefix
        reason = probe.stderr.strip() or f"exit {probe.returncode}"
    pytest.skip(f"systemd-run cannot start units here: {reason}")


def test_agent_runs_as_notify_unit(tmp_path: Path) -> None:
    prefix = systemd_run_prefix()
    systemctl = ["systemctl", *prefix[1:]]
    farm = Farm(tmp_path)
    unit = f"aefarm-agent-test-{os.getpid()}"
    try:
        farm.start_controller()
        argv = [sys.executable, "-m", "agent.main", "--controller", farm.address, "--simulate"]
        argv += ["--work-dir", str(tmp_path / "agent"), "--agent-id", "unit-agent"]
        command = [*prefix, f"--unit={unit}", "-p", "Type=notify", "-p", "WatchdogSec=30"]
        command += [f"--working-directory={TOP}", "--collect", *argv]
        # With Type=notify, systemd-run returns once the agent sent READY=1.
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        farm.wait_for_agents(1)
        status = subprocess.run(
            [*systemctl, "show", unit, "-p", "ActiveState"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        subprocess.run([*systemctl, "stop", unit], capture_output=True, timeout=60)
    finally:
        farm.stop()

    assert "ActiveState=active" in status.stdout
