"""The aefarm CLI run as a real process: help, offline validation and an unreachable controller."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
COMMANDS = (
    "up",
    "submit",
    "validate",
    "jobs",
    "job",
    "watch",
    "cancel",
    "output",
    "agents",
    "logs",
)
CONTROLLER_COMMANDS = (
    ("jobs",),
    ("job", "abc"),
    ("watch", "abc"),
    ("cancel", "abc"),
    ("output", "abc"),
    ("agents",),
    ("logs", "abc"),
)

VALID_JOB = {"template": {"src": "templates/title.aep", "composition": "main"}}
INVALID_JOB = {
    "template": {"src": "templates/title.aep", "composition": 5},
    "settings": {"engine": "ae1999", "quality": "best"},
}


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {key: value for key, value in os.environ.items() if key != "AEFARM_CONTROLLER"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        cwd=cwd or TOP,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on once this returns."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_job(folder: Path, job: object) -> Path:
    path = folder / "job.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    return path


def expected_problems(job: dict[str, object], base_dir: Path) -> list[str]:
    from controller.jobspec.parse import JobRejected, parse_job_object, resolve_local_sources

    with pytest.raises(JobRejected) as rejected:
        parse_job_object(resolve_local_sources(job, base_dir))
    return [f"{problem.path}: {problem.reason}" for problem in rejected.value.problems]


def test_help_of_main() -> None:
    result = run_cli("--help")

    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
    assert "AEFARM_CONTROLLER" in result.stdout
    assert "exit codes" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_command(command: str) -> None:
    result = run_cli(command, "--help")

    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: aefarm {command}")
    assert "3  the controller is unreachable" in result.stdout
    assert result.stderr == ""


def test_help_names_units() -> None:
    up_help = run_cli("up", "--help").stdout
    watch_help = run_cli("watch", "--help").stdout

    assert "--lease-grace SECONDS" in up_help
    assert "--heartbeat-interval SECONDS" in up_help
    assert "--stop-grace SECONDS" in up_help
    assert "--reconnect-timeout SECONDS" in watch_help


def test_no_command_is_a_usage_error() -> None:
    result = run_cli()

    assert result.returncode == 2
    assert "usage: aefarm" in result.stderr


def test_validate_valid_job(tmp_path: Path) -> None:
    result = run_cli("validate", str(write_job(tmp_path, VALID_JOB)))

    assert result.returncode == 0, result.stderr
    assert result.stdout == "valid\n"


def test_validate_valid_job_json(tmp_path: Path) -> None:
    result = run_cli("validate", "--json", str(write_job(tmp_path, VALID_JOB)))
    report = json.loads(result.stdout)

    assert result.returncode == 0, result.stderr
    assert report["valid"] is True
    assert report["problems"] == []
    # The relative template path was resolved against the job file's folder.
    assert report["spec"]["template"]["src"] == (tmp_path / "templates" / "title.aep").as_uri()


def test_validate_reads_stdin(tmp_path: Path) -> None:
    result = run_cli("validate", "-", stdin=json.dumps(VALID_JOB), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "valid\n"


def test_validate_prints_every_problem(tmp_path: Path) -> None:
    problems = expected_problems(INVALID_JOB, tmp_path)

    result = run_cli("validate", str(write_job(tmp_path, INVALID_JOB)))

    assert result.returncode == 2
    assert len(problems) >= 3
    assert result.stdout.splitlines() == problems
    assert f"{len(problems)} problems" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_invalid_job_json(tmp_path: Path) -> None:
    problems = expected_problems(INVALID_JOB, tmp_path)

    result = run_cli("validate", "--json", str(write_job(tmp_path, INVALID_JOB)))
    report = json.loads(result.stdout)

    assert result.returncode == 2
    assert report["valid"] is False
    assert [f"{p['path']}: {p['reason']}" for p in report["problems"]] == problems


def test_validate_rejects_broken_json(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text('{"template": ', encoding="utf-8")

    result = run_cli("validate", str(path))

    assert result.returncode == 2
    assert result.stdout.startswith("$: invalid JSON")
    assert "line 1" in result.stdout


def test_validate_missing_file(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "missing.json"))

    assert result.returncode == 2
    assert "cannot read job file" in result.stderr
    assert "missing.json" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", CONTROLLER_COMMANDS, ids=lambda command: command[0])
def test_unreachable_controller(command: tuple[str, ...]) -> None:
    address = f"127.0.0.1:{free_port()}"

    result = run_cli("--controller", address, *command)

    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"cannot reach the controller at {address}" in result.stderr
    assert "AEFARM_CONTROLLER" in result.stderr
    assert result.stdout == ""


def test_unreachable_controller_on_submit(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"

    result = run_cli("submit", str(write_job(tmp_path, VALID_JOB)), "--controller", address)

    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert f"cannot reach the controller at {address}" in result.stderr


def test_unreachable_controller_from_environment() -> None:
    address = f"127.0.0.1:{free_port()}"

    result = run_cli("agents", env={"AEFARM_CONTROLLER": address})

    assert result.returncode == 3
    assert address in result.stderr


def test_controller_option_after_command_wins() -> None:
    address = f"127.0.0.1:{free_port()}"

    result = run_cli("--controller", "127.0.0.1:1", "jobs", "--controller", address)

    assert result.returncode == 3
    assert address in result.stderr


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1:99999", ":8470", "::1:8470"])
def test_invalid_controller_address(address: str) -> None:
    result = run_cli("jobs", env={"AEFARM_CONTROLLER": address})

    assert result.returncode == 2
    assert f"invalid controller address {address!r} from AEFARM_CONTROLLER" in result.stderr
    assert "Traceback" not in result.stderr


def test_unresponsive_controller() -> None:
    # A socket that accepts TCP connections and never speaks HTTP/2.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"

        result = run_cli("--controller", address, "watch", "abc")

    assert result.returncode == 3
    assert f"cannot reach the controller at {address}" in result.stderr
    assert "SETTINGS" in result.stderr
    assert "Traceback" not in result.stderr


def test_priority_out_of_range_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "priority", "JOB", "2147483648"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "out of range" in result.stderr
    assert "Traceback" not in result.stderr
