"""A real farm for end-to-end tests: a controller process and agent processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import psutil

from protos import artifacts_pb2, artifacts_pb2_grpc, common_pb2, jobs_pb2, jobs_pb2_grpc

TOP = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0
FINAL_STATES = {
    common_pb2.JOB_STATE_FINISHED,
    common_pb2.JOB_STATE_FAILED,
    common_pb2.JOB_STATE_CANCELLED,
}


class Farm:
    """Starts, stops and talks to one controller and its agents."""

    def __init__(self, root: Path, heartbeat_interval: float = 0.5, lease_grace: float = 5.0):
        self.root = root
        self.data_dir = root / "controller"
        self.heartbeat_interval = heartbeat_interval
        self.lease_grace = lease_grace
        self.controller: subprocess.Popen[bytes] | None = None
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.address = ""
        self.port = 0
        self._channel: grpc.Channel | None = None

    # Processes.

    def start_controller(self, extra: list[str] | None = None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ready_file = self.data_dir / "controller.json"
        ready_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "controller.main", "--data-dir", str(self.data_dir)]
        argv += ["--port", str(self.port), "--heartbeat-interval", str(self.heartbeat_interval)]
        argv += ["--lease-grace", str(self.lease_grace), *(extra or [])]
        self.controller = self._spawn(argv, self.root / "controller.log")
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready_file.exists():
            if self.controller.poll() is not None:
                raise RuntimeError(
                    f"controller exited with {self.controller.returncode}: {self.log('controller')}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"controller not ready: {self.log('controller')}")
            time.sleep(0.05)
        self.address = json.loads(ready_file.read_text())["address"]
        # A restart keeps the port, so agents reconnect to the same address.
        self.port = int(self.address.rsplit(":", 1)[1])
        self._close_channel()

    def start_agent(
        self, agent_id: str, extra: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        work_dir = self.root / "agents" / agent_id
        work_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "agent.main", "--controller", self.address]
        argv += ["--work-dir", str(work_dir), "--agent-id", agent_id, "--simulate"]
        # An agent reads no local files outside its file roots: allow test folders and the repo.
        argv += ["--file-root", tempfile.gettempdir(), "--file-root", str(TOP), *(extra or [])]
        self.agents[agent_id] = self._spawn(argv, self.root / f"{agent_id}.log", env)

    def wait_for_agents(self, count: int, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            connected = [a for a in self.list_agents() if a.state == "connected"]
            if len(connected) >= count:
                return
            if time.monotonic() > deadline:
                logs = {name: self.log(name) for name in self.agents}
                raise RuntimeError(f"{len(connected)} of {count} agents connected: {logs}")
            time.sleep(0.1)

    def kill_controller(self) -> None:
        assert self.controller is not None
        self.controller.kill()
        self.controller.wait()

    def stop(self) -> None:
        self._close_channel()
        for process in [*self.agents.values(), self.controller]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.agents.values(), self.controller]:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def _spawn(
        self, argv: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(
                argv, cwd=TOP, stdout=log_file, stderr=subprocess.STDOUT, env=full_env
            )

    # gRPC.

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.address)
        return self._channel

    def _close_channel(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    @property
    def jobs(self) -> jobs_pb2_grpc.JobServiceStub:
        return jobs_pb2_grpc.JobServiceStub(self.channel)

    def submit(self, job: dict[str, object]) -> jobs_pb2.SubmitResponse:
        request = jobs_pb2.SubmitRequest(job_json=json.dumps(job), source="e2e test")
        return self.jobs.Submit(request, timeout=10)

    def get(self, job_id: str) -> jobs_pb2.Job:
        return self.jobs.GetJob(jobs_pb2.GetJobRequest(id=job_id), timeout=10)

    def wait_final(self, job_id: str, timeout: float = 120.0) -> jobs_pb2.Job:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.state in FINAL_STATES:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job.state} after {timeout} s: {job}")
            time.sleep(0.1)

    def farm_stub(self) -> jobs_pb2_grpc.FarmServiceStub:
        return jobs_pb2_grpc.FarmServiceStub(self.channel)

    def list_agents(self) -> list[jobs_pb2.AgentInfo]:
        stub = self.farm_stub()
        return list(stub.ListAgents(jobs_pb2.ListAgentsRequest(), timeout=10).agents)

    def download(self, output: common_pb2.Output, target: Path) -> Path:
        stub = artifacts_pb2_grpc.ArtifactServiceStub(self.channel)
        with open(target, "wb") as file:
            for chunk in stub.Download(
                artifacts_pb2.DownloadRequest(sha256=output.sha256), timeout=60
            ):
                file.write(chunk.data)
        return target


def started_under(process: psutil.Process, root: Path) -> bool:
    """Return whether process runs in a folder under root, as the renders of one farm do.

    Other test runs on the same machine have simulators of their own, in other folders.
    """
    try:
        return Path(process.cwd()).is_relative_to(root)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def simulator_processes(root: Path) -> list[psutil.Process]:
    """Return running aerender simulator processes of the farm under root."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        is_simulator = "agent.simulator" in cmdline or any(
            part.endswith("aefarm-aerender-sim") for part in cmdline
        )
        if is_simulator and started_under(process, root):
            found.append(process)
    return found


@contextmanager
def running_farm(root: Path, agents: int = 2, **options: float) -> Iterator[Farm]:
    farm = Farm(root, **options)
    try:
        farm.start_controller()
        for index in range(1, agents + 1):
            farm.start_agent(f"agent-{index}")
        farm.wait_for_agents(agents)
        yield farm
    finally:
        farm.stop()
