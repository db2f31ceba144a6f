"""The aefarm CLI as a real process against a real controller process without agents.

Without agents no job renders, so these tests cover what the CLI does with stored jobs: submit,
list, show, cancel, and the errors for a job that is not finished.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TOP = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0

NESTED_JOB = {
    "template": {"src": "templates/title.aep", "composition": "main"},
    "assets": [
        {
            "type": "job",
            "layerName": "Clip A",
            "template": {"src": "templates/clip.aep", "composition": "clip"},
        }
    ],
}

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("controller.main") is None,
    reason="controller.main is not in this checkout",
)


def run_cli(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "AEFARM_CONTROLLER"}
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "--controller", address, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=TOP,
        timeout=120,
        check=False,
    )


def run_json(address: str, *args: str) -> Any:
    result = run_cli(address, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[str]:
    data_dir = tmp_path / "controller"
    log_path = tmp_path / "controller.log"
    argv = [sys.executable, "-m", "controller.main", "--port", "0", "--data-dir", str(data_dir)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(argv, cwd=TOP, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield wait_for_address(process, data_dir / "controller.json", log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_address(process: subprocess.Popen[bytes], info_path: Path, log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"controller exited with {process.returncode}: {log_path.read_text()}")
        try:
            return str(json.loads(info_path.read_text())["address"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    pytest.fail(f"controller wrote no {info_path}: {log_path.read_text()}")


def submit_nested(address: str, folder: Path) -> dict[str, Any]:
    job_path = folder / "nested.json"
    job_path.write_text(json.dumps(NESTED_JOB), encoding="utf-8")
    submitted: dict[str, Any] = run_json(address, "submit", str(job_path))
    return submitted


def test_submit_prints_job_tree(controller: str, tmp_path: Path) -> None:
    job_path = tmp_path / "nested.json"
    job_path.write_text(json.dumps(NESTED_JOB), encoding="utf-8")

    result = run_cli(controller, "submit", str(job_path))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("submitted job ")
    root_id = lines[0].split()[-1]
    assert lines[1].startswith(f"{root_id}  ")
    assert "pending" in lines[1]
    assert lines[2].startswith("  ")
    assert 'layer "Clip A"' in lines[2]


def test_submit_json_has_children(controller: str, tmp_path: Path) -> None:
    submitted = submit_nested(controller, tmp_path)

    root = submitted["job"]
    assert root["state"] == "pending"
    assert len(submitted["children"]) == 1
    child = submitted["children"][0]
    assert root["children"] == [child["id"]]
    assert child["parent"] == root["id"]
    assert child["layer_name"] == "Clip A"
    assert child["state"] == "queued"
    template = root["spec"]["template"]
    assert template["src"] == (tmp_path / "templates" / "title.aep").as_uri()


def test_jobs_lists_roots_unless_all(controller: str, tmp_path: Path) -> None:
    submitted = submit_nested(controller, tmp_path)
    root_id = submitted["job"]["id"]
    child_id = submitted["children"][0]["id"]

    roots = run_json(controller, "jobs")
    every_job = run_json(controller, "jobs", "--all")
    queued = run_json(controller, "jobs", "--all", "--state", "queued")

    assert [job["id"] for job in roots] == [root_id]
    assert sorted(job["id"] for job in every_job) == sorted([root_id, child_id])
    assert [job["id"] for job in queued] == [child_id]


def test_jobs_table(controller: str, tmp_path: Path) -> None:
    root_id = submit_nested(controller, tmp_path)["job"]["id"]

    result = run_cli(controller, "jobs")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "STAGE"]
    assert lines[1].split()[:2] == [root_id, "pending"]


def test_job_json_fields(controller: str, tmp_path: Path) -> None:
    submitted = submit_nested(controller, tmp_path)
    root_id = submitted["job"]["id"]

    job = run_json(controller, "job", root_id)

    assert job["id"] == root_id
    assert job["state"] == "pending"
    assert job["parent"] is None
    assert job["children"] == [submitted["children"][0]["id"]]
    assert job["attempts"] == 0
    assert job["outputs"] == []
    assert job["error"] is None
    assert job["composition"] == "main"
    assert job["created_at"].endswith("Z")
    assert job["history"]
    assert job["history"][0]["at"].endswith("Z")


def test_job_detail_text(controller: str, tmp_path: Path) -> None:
    root_id = submit_nested(controller, tmp_path)["job"]["id"]

    result = run_cli(controller, "job", root_id)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["job", root_id]
    assert "history" in result.stdout


def test_cancel_cancels_tree(controller: str, tmp_path: Path) -> None:
    submitted = submit_nested(controller, tmp_path)
    root_id = submitted["job"]["id"]
    child_id = submitted["children"][0]["id"]

    result = run_cli(controller, "cancel", root_id, "--reason", "wrong template")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"job {root_id} is cancelled\n"
    root = run_json(controller, "job", root_id)
    child = run_json(controller, "job", child_id)
    assert root["state"] == "cancelled"
    assert child["state"] == "cancelled"
    assert root["history"][-1]["state"] == "cancelled"
    assert "wrong template" in root["history"][-1]["cause"]


def test_watch_cancelled_job_exits_1(controller: str, tmp_path: Path) -> None:
    root_id = submit_nested(controller, tmp_path)["job"]["id"]
    assert run_cli(controller, "cancel", root_id, "--reason", "wrong template").returncode == 0

    result = run_cli(controller, "watch", root_id)

    assert result.returncode == 1
    assert f"job {root_id} cancelled: " in result.stderr
    assert "wrong template" in result.stderr


def test_output_of_pending_job(controller: str, tmp_path: Path) -> None:
    root_id = submit_nested(controller, tmp_path)["job"]["id"]

    result = run_cli(controller, "output", root_id, "-o", str(tmp_path / "out"))

    assert result.returncode == 1
    assert f"job {root_id} is pending, not finished" in result.stderr


def test_unknown_job(controller: str) -> None:
    result = run_cli(controller, "job", "0" * 32)

    assert result.returncode == 1
    assert "0" * 32 in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_job_rejected_by_controller(controller: str, tmp_path: Path) -> None:
    job_path = tmp_path / "bad.json"
    job_path.write_text(json.dumps({"template": {"src": "t.aep"}}), encoding="utf-8")

    result = run_cli(controller, "submit", str(job_path))

    assert result.returncode == 2
    assert "$.template.composition: " in result.stderr


def test_agents_without_agents(controller: str) -> None:
    assert run_json(controller, "agents") == []
