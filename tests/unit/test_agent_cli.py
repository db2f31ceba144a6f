"""The aefarm-agent command line: flags, defaults, and the parse-log subcommand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import default_agent_id
from agent.main import build_parser, config_from_args, main


def parse(*argv: str) -> object:
    return config_from_args(build_parser().parse_args(list(argv)))


def test_flags(tmp_path: Path) -> None:
    config = parse(
        "--controller",
        "127.0.0.1:7070",
        "--work-dir",
        str(tmp_path),
        "--simulate",
        "--agent-id",
        "box7",
        "--slots",
        "2",
        "--pool",
        "gpu",
        "--pool",
        "night",
        "--engine",
        "ae2025=/opt/ae 2025/aerender",
        "--file-root",
        "/mnt/jobs",
        "--keep-failed",
        "3",
        "--mfr-cpu-percent",
        "75",
    )
    assert config.controller == "127.0.0.1:7070"  # type: ignore[attr-defined]
    assert config.work_dir == tmp_path.resolve()  # type: ignore[attr-defined]
    assert config.simulate  # type: ignore[attr-defined]
    assert config.agent_id == "box7"  # type: ignore[attr-defined]
    assert config.slots == 2  # type: ignore[attr-defined]
    assert config.pools == ("gpu", "night")  # type: ignore[attr-defined]
    assert config.engines == {"ae2025": "/opt/ae 2025/aerender"}  # type: ignore[attr-defined]
    assert config.file_roots == (Path("/mnt/jobs"),)  # type: ignore[attr-defined]
    assert config.keep_failed_workspaces == 3  # type: ignore[attr-defined]
    assert config.mfr_cpu_percent == 75  # type: ignore[attr-defined]


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEFARM_CONTROLLER", "127.0.0.1:9000")
    config = parse("--work-dir", str(tmp_path))
    assert config.controller == "127.0.0.1:9000"  # type: ignore[attr-defined]
    assert not config.simulate  # type: ignore[attr-defined]
    assert config.slots == 1  # type: ignore[attr-defined]
    assert config.agent_id == default_agent_id(tmp_path)  # type: ignore[attr-defined]


def test_default_agent_id_depends_on_work_dir(tmp_path: Path) -> None:
    first = default_agent_id(tmp_path / "a")
    assert first == default_agent_id(tmp_path / "a")
    assert first != default_agent_id(tmp_path / "b")


@pytest.mark.parametrize("entry", ["ae2025", "=/x", "ae2025="])
def test_invalid_engine_entry(
    tmp_path: Path, entry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--work-dir", str(tmp_path), "--engine", entry])
    assert "NAME=PATH" in capsys.readouterr().err


def test_controller_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AEFARM_CONTROLLER", raising=False)
    with pytest.raises(SystemExit):
        main(["--work-dir", str(tmp_path)])
    assert "--controller is required" in capsys.readouterr().err


def test_parse_log_dispatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "render.log"
    log.write_bytes(
        b"PROGRESS:  0:00:00:00 (1): 0 Seconds\n"
        b"PROGRESS:  0:00:00:01 (2): 0 Seconds\n"
        b"aerender version 26.0x55\n"
    )
    assert main(["parse-log", str(log), "--frames", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames_done"] == 2
    assert summary["frames_total"] == 4


def test_entry_point_runs_as_module(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "agent.main", "--help"], capture_output=True, text=True, check=True
    )
    assert "--simulate" in completed.stdout
    assert "--file-root" in completed.stdout
