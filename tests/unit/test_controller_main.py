"""aefarm-controller as a process: flags, controller.json, logs and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from protos import jobs_pb2, jobs_pb2_grpc

START_TIMEOUT_SECONDS = 30.0


def start(data_dir: Path, *flags: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "controller.main", "--data-dir", str(data_dir), "--port", "0"]
    return subprocess.Popen(
        [*argv, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_ready(process: subprocess.Popen[str], ready_file: Path) -> dict[str, object]:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready_file.exists():
        assert process.poll() is None, f"controller exited: {process.communicate()[1]}"
        assert time.monotonic() < deadline, "controller wrote no controller.json"
        time.sleep(0.05)
    return dict(json.loads(ready_file.read_text()))


def test_serves_until_sigterm(tmp_path: Path) -> None:
    process = start(tmp_path, "--heartbeat-interval", "0.5", "--lease-grace", "3")
    try:
        ready = wait_ready(process, tmp_path / "controller.json")
        address = str(ready["address"])
        assert ready["pid"] == process.pid
        assert address.startswith("127.0.0.1:")

        with grpc.insecure_channel(address) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            listed = stub.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10)
            assert list(listed.jobs) == []
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"listening on {address}" in stderr
    assert "controller stopped" in stderr
    assert not (tmp_path / "controller.json").exists()


def test_second_controller_on_same_dir_exits(tmp_path: Path) -> None:
    first = start(tmp_path)
    try:
        wait_ready(first, tmp_path / "controller.json")
        second = start(tmp_path)
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "another controller uses the data dir" in stderr
        assert (tmp_path / "controller.json").exists()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)


def test_lease_grace_must_exceed_heartbeat(tmp_path: Path) -> None:
    process = start(tmp_path, "--heartbeat-interval", "10", "--lease-grace", "5")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "--lease-grace 5 must be longer than --heartbeat-interval 10" in stderr
