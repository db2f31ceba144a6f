"""nexrender's server and workers, installed from npm into a temporary folder, on 127.0.0.1.

The workers run the same aerender simulator as aefarm's agents: a stand-in After Effects folder
holds a shell script named `aerender` that runs `python -m agent.simulator`, and the
`Scripts/Startup/commandLineRenderer.jsx` file that nexrender's patch step rewrites. The server
is started by a small launcher that binds 127.0.0.1 (nexrender-server itself binds 0.0.0.0),
and the workers by one that turns nexrender's analytics and license helpers off and gives
nexrender's aerender discovery an empty path table for Linux, where it otherwise fails.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.controller_proc import TOP

logger = logging.getLogger(__name__)

PACKAGES = ("@nexrender/server", "@nexrender/worker")
SECRET = "aefarm-bench-secret"
NPM_TIMEOUT_SECONDS = 300

SERVER_LAUNCHER = """\
const micro = require('micro');
const { createHandler } = require('@nexrender/server');
const port = Number(process.env.BENCH_PORT);
micro(createHandler(process.env.BENCH_SECRET)).listen(port, '127.0.0.1', () => {
    console.log('listening on 127.0.0.1:' + port);
});
"""

WORKER_LAUNCHER = """\
// nexrender's aerender discovery has a path table for win32 and darwin only and fails on
// Linux; an empty table for Linux leaves the explicit binary below as the only choice.
require('@nexrender/core/src/helpers/autofind').defaultPaths.linux = [];
const { start } = require('@nexrender/worker');
start(process.env.BENCH_HOST, process.env.BENCH_SECRET, {
    binary: process.env.BENCH_BINARY,
    workpath: process.env.BENCH_WORKPATH,
    polling: Number(process.env.BENCH_POLLING_MS),
    noAnalytics: true,
    addLicense: false,
    stopOnError: false,
}).catch(error => { console.error(error); process.exit(1); });
"""


class NexrenderUnavailable(RuntimeError):
    """npm or node is missing, or the packages could not be installed."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NexrenderFarm:
    """A nexrender server and its workers in folder, which must be a temporary folder."""

    def __init__(self, folder: Path, polling_ms: int) -> None:
        self.folder = folder
        self.polling_ms = polling_ms
        self.port = 0
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.versions: dict[str, str] = {}
        # Direct connections only: a proxy from the environment must not see this traffic.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def install(self) -> None:
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise NexrenderUnavailable("npm or node is not on PATH")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "package.json").write_text('{"name": "aefarm-bench-peer", "private": true}')
        try:
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *PACKAGES],
                cwd=self.folder,
                check=True,
                capture_output=True,
                timeout=NPM_TIMEOUT_SECONDS,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            stderr = getattr(error, "stderr", b"") or b""
            raise NexrenderUnavailable(
                f"npm install {' '.join(PACKAGES)} failed: {stderr.decode(errors='replace')[-400:]}"
            ) from error
        for package in PACKAGES:
            manifest = self.folder / "node_modules" / package / "package.json"
            self.versions[package] = json.loads(manifest.read_text())["version"]
        self._make_stand_in()

    def _make_stand_in(self) -> None:
        """Write the stand-in After Effects folder and the two launchers."""
        ae = self.folder / "ae"
        (ae / "Scripts" / "Startup").mkdir(parents=True, exist_ok=True)
        (ae / "Scripts" / "Startup" / "commandLineRenderer.jsx").write_text(
            "// Stand-in for After Effects' commandLineRenderer.jsx; nexrender patches it.\n"
        )
        binary = ae / "aerender"
        binary.write_text(
            f'#!/bin/sh\nexport PYTHONPATH={TOP}\nexec {sys.executable} -m agent.simulator "$@"\n'
        )
        binary.chmod(0o755)
        (self.folder / "server.js").write_text(SERVER_LAUNCHER)
        (self.folder / "worker.js").write_text(WORKER_LAUNCHER)
        (self.folder / "home").mkdir(exist_ok=True)

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.folder / "home"),
            "NEXRENDER_DATABASE": str(self.folder / "database.json"),
            "NEXRENDER_ENABLE_AELOG_PROJECT_FOLDER": "1",
            "BENCH_SECRET": SECRET,
            **extra,
        }

    def start(self, workers: int, simulator_faults: str = "") -> None:
        (self.folder / "database.json").unlink(missing_ok=True)
        self.port = _free_port()
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - the child keeps it
        self.server = subprocess.Popen(
            ["node", "server.js"],
            cwd=self.folder,
            env=self._env({"BENCH_PORT": str(self.port)}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_healthy()
        for number in range(workers):
            self.start_worker(number, simulator_faults)

    def start_worker(self, number: int, simulator_faults: str = "") -> None:
        workpath = self.folder / "work" / str(number)
        workpath.mkdir(parents=True, exist_ok=True)
        extra = {
            "BENCH_HOST": f"http://127.0.0.1:{self.port}",
            "BENCH_BINARY": str(self.folder / "ae" / "aerender"),
            "BENCH_WORKPATH": str(workpath),
            "BENCH_POLLING_MS": str(self.polling_ms),
            "AEFARM_SIM_FAULTS": simulator_faults,
        }
        log = open(self.folder / f"worker-{number}.log", "ab")  # noqa: SIM115 - the child keeps it
        worker = subprocess.Popen(
            ["node", "worker.js"],
            cwd=self.folder,
            env=self._env(extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.workers.append(worker)

    def kill_worker(self, index: int) -> None:
        """SIGKILL one worker process alone, as a crashed render box would lose it."""
        self.workers[index].kill()
        self.workers[index].wait()

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                # Each worker leads its own session, so its aerender children stop with it.
                os.killpg(worker.pid, signal.SIGTERM)
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
        for process in [*self.workers, self.server]:
            if process is not None:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.workers = []

    # REST API.

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1{path}",
            data=data,
            method=method,
            headers={"nexrender-secret": SECRET, "Content-Type": "application/json"},
        )
        with self._opener.open(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def _wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self._opener.open(
                    f"http://127.0.0.1:{self.port}/api/v1/health", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            if self.server is not None and self.server.poll() is not None:
                break
            time.sleep(0.1)
        log = (self.folder / "server.log").read_text(errors="replace")[-400:]
        raise NexrenderUnavailable(f"nexrender's server did not start: {log}")

    def submit(self, job: dict[str, Any]) -> str:
        return str(self.request("POST", "/jobs", job)["uid"])

    def state(self, uid: str) -> str:
        return str(self.request("GET", f"/jobs/{uid}/status")["state"])

    def states(self) -> dict[str, str]:
        return {job["uid"]: job["state"] for job in self.request("GET", "/jobs")}


def nexrender_job(template: Path, index: int) -> dict[str, Any]:
    """Build the nexrender-shape job that both sides of the comparison render."""
    return {
        "template": {
            "src": template.as_uri(),
            # nexrender 1.63 names a copied file:// source by its whole path, which fails
            # unless the asset has a name.
            "name": template.name,
            "composition": "LowerThird",
            "frameStart": 0,
            "frameEnd": 9,
            "outputModule": "H.264 - Match Render Settings - 15 Mbps",
            "outputExt": "mp4",
            "settingsTemplate": "Best Settings",
        },
        "assets": [
            {"type": "data", "layerName": "Title", "property": "Source Text", "value": str(index)}
        ],
        "actions": {},
    }
