"""Tests for agent.proctree with real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from agent import proctree

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process trees tested on Linux")

# Upper bound for a helper process to write its pid file; only a broken test waits this long.
PID_FILE_TIMEOUT = 20.0

# A tree of four processes that each append "role pid" to the file in argv[1]: the root, a
# child, a grandchild, and a grandchild that left the session with setsid and ignores SIGTERM.
TREE_SCRIPT = """
import os, signal, sys, time

def record(role):
    with open(sys.argv[1], "a") as pid_file:
        pid_file.write(f"{role} {os.getpid()}\\n")

record("root")
if os.fork() == 0:
    record("child")
    if os.fork() == 0:
        record("grandchild")
        time.sleep(120)
        os._exit(0)
    time.sleep(120)
    os._exit(0)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        record("detached")
        time.sleep(120)
        os._exit(0)
    os._exit(0)
time.sleep(120)
"""

# A root that leaves a child in its process group, with an empty environment, and exits.
GROUP_SCRIPT = """
import os, sys

if os.fork() == 0:
    with open(sys.argv[1], "a") as pid_file:
        pid_file.write(f"group_member {os.getpid()}\\n")
    os.execve("/bin/sleep", ["sleep", "120"], {})
"""


@pytest.fixture
def started() -> Iterator[list[psutil.Process]]:
    """Processes a test started; any still running at the end are killed."""
    processes: list[psutil.Process] = []
    yield processes
    for process in processes:
        try:
            if process.is_running():
                process.kill()
        except psutil.NoSuchProcess:
            pass


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def read_pids(pid_file: Path, roles: set[str]) -> dict[str, int]:
    deadline = time.monotonic() + PID_FILE_TIMEOUT
    while True:
        text = pid_file.read_text() if pid_file.exists() else ""
        pids = {line.split()[0]: int(line.split()[1]) for line in text.splitlines() if line}
        if roles <= pids.keys():
            return pids
        if time.monotonic() > deadline:
            raise AssertionError(f"pid file {pid_file} has {pids}, expected roles {roles}")
        time.sleep(0.01)


def start_tree(
    tmp_path: Path, script: str, token: str | None, started: list[psutil.Process]
) -> subprocess.Popen[bytes]:
    if token is None:
        env = {k: v for k, v in os.environ.items() if k != proctree.TREE_TOKEN_VARIABLE}
    else:
        env = proctree.spawn_env(os.environ, token)
    root = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "pids")],
        env=env,
        start_new_session=True,
    )
    started.append(psutil.Process(root.pid))
    return root


def track(pids: dict[str, int], started: list[psutil.Process]) -> None:
    for pid in pids.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            started.append(psutil.Process(pid))


def start_sleep(env: dict[str, str], started: list[psutil.Process]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["sleep", "120"], env=env, start_new_session=True)
    started.append(psutil.Process(process.pid))
    return process


def test_spawn_env_adds_token() -> None:
    base = {"PATH": "/usr/bin"}

    env = proctree.spawn_env(base, "token-1")

    assert env == {"PATH": "/usr/bin", "AEFARM_TREE_TOKEN": "token-1"}
    assert base == {"PATH": "/usr/bin"}


def test_spawn_env_rejects_empty_token() -> None:
    with pytest.raises(ValueError, match="tree_token is empty"):
        proctree.spawn_env({}, "")


def test_terminate_tree_stops_all_members(tmp_path: Path, started: list[psutil.Process]) -> None:
    token = proctree.new_tree_token()
    root = start_tree(tmp_path, TREE_SCRIPT, token, started)
    pids = read_pids(tmp_path / "pids", {"root", "child", "grandchild", "detached"})
    track(pids, started)

    signalled = asyncio.run(proctree.terminate_tree(root.pid, token, grace_seconds=0.3))
    root.wait()

    assert set(pids.values()) <= set(signalled)
    for role, pid in pids.items():
        assert not is_running(pid), f"{role} pid {pid} still running"


def test_terminate_tree_kills_process_ignoring_sigterm(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    token = proctree.new_tree_token()
    root = start_tree(tmp_path, TREE_SCRIPT, token, started)
    pids = read_pids(tmp_path / "pids", {"detached"})
    track(pids, started)
    detached = psutil.Process(pids["detached"])

    asyncio.run(proctree.terminate_tree(root.pid, token, grace_seconds=0.2))
    root.wait()

    # The detached process ignores SIGTERM, so only SIGKILL can have ended it.
    assert not is_running(detached.pid)


def test_terminate_tree_leaves_other_processes(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    token = proctree.new_tree_token()
    unrelated = start_sleep(dict(os.environ), started)
    other_tree = start_sleep(proctree.spawn_env(os.environ, token + "-other"), started)
    root = start_tree(tmp_path, TREE_SCRIPT, token, started)
    track(read_pids(tmp_path / "pids", {"root", "detached"}), started)

    signalled = asyncio.run(proctree.terminate_tree(root.pid, token, grace_seconds=0.2))
    root.wait()

    assert unrelated.pid not in signalled
    assert other_tree.pid not in signalled
    assert is_running(unrelated.pid)
    assert is_running(other_tree.pid)


def test_terminate_tree_ignores_root_without_token(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    # A live root pid without the token is a reused pid: its descendants and group stay.
    root = start_tree(tmp_path, TREE_SCRIPT, None, started)
    pids = read_pids(tmp_path / "pids", {"root", "child", "grandchild", "detached"})
    track(pids, started)

    signalled = asyncio.run(proctree.terminate_tree(root.pid, "token-not-used", 0.2))

    assert signalled == []
    for role, pid in pids.items():
        assert is_running(pid), f"{role} pid {pid} was stopped"


def test_terminate_tree_finds_group_after_root_exit(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    token = proctree.new_tree_token()
    root = start_tree(tmp_path, GROUP_SCRIPT, token, started)
    pids = read_pids(tmp_path / "pids", {"group_member"})
    track(pids, started)
    root.wait()
    member = pids["group_member"]
    assert proctree.TREE_TOKEN_VARIABLE not in psutil.Process(member).environ()

    signalled = asyncio.run(proctree.terminate_tree(root.pid, token, grace_seconds=0.2))

    assert member in signalled
    assert not is_running(member)


def test_terminate_tree_with_nothing_left() -> None:
    finished = subprocess.Popen(["true"], start_new_session=True)
    finished.wait()

    signalled = asyncio.run(proctree.terminate_tree(finished.pid, "token-gone", 0.2))

    assert signalled == []


def test_find_tree_lists_members(tmp_path: Path, started: list[psutil.Process]) -> None:
    token = proctree.new_tree_token()
    root = start_tree(tmp_path, TREE_SCRIPT, token, started)
    pids = read_pids(tmp_path / "pids", {"root", "child", "grandchild", "detached"})
    track(pids, started)

    members = {process.pid for process in proctree.find_tree(root.pid, token)}

    assert members == set(pids.values())
    assert os.getpid() not in members
    asyncio.run(proctree.terminate_tree(root.pid, token, grace_seconds=0.2))
    root.wait()


def test_become_subreaper_adopts_orphans() -> None:
    # Run in a child interpreter so this test process does not become a subreaper.
    script = """
import ctypes, json, os, time
from agent import proctree

became = proctree.become_subreaper()
value = ctypes.c_int()
ctypes.CDLL(None).prctl(37, ctypes.byref(value), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
read_end, write_end = os.pipe()
if os.fork() == 0:
    middle = os.getpid()
    if os.fork() == 0:
        os.close(read_end)
        deadline = time.monotonic() + 20
        while os.getppid() == middle and time.monotonic() < deadline:
            time.sleep(0.01)
        os.write(write_end, str(os.getppid()).encode())
        os._exit(0)
    os._exit(0)
os.close(write_end)
orphan_parent = int(os.read(read_end, 32))
print(json.dumps({"became": became, "flag": value.value, "orphan_parent": orphan_parent,
                  "self": os.getpid()}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    report = json.loads(result.stdout)

    assert report["became"] is True
    assert report["flag"] == 1
    assert report["orphan_parent"] == report["self"]


def test_contain_tree_is_noop_off_windows() -> None:
    assert proctree.contain_tree(os.getpid(), "token") is False


def test_spawn_options_start_new_session() -> None:
    assert proctree.spawn_options() == {"start_new_session": True}
