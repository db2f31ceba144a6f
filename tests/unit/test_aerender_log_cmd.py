"""Tests for the parse-log command, run as a real subprocess on log files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FAILED_LOG = (
    "aerender version 25.6x101\r\n"
    "PROGRESS: Launching After Effects...\r\n"
    "PROGRESS: 3/2/2026 9:41:07 AM: Starting composition “Main”.\r\n"
    "PROGRESS:  Start: 0:00:00:00\r\n"
    "PROGRESS:  End: 0:00:03:29\r\n"
    "PROGRESS:  Duration: 0:00:04:00\r\n"
    "PROGRESS:  Frame Rate: 30.00 (comp)\r\n"
    "PROGRESS:  0:00:00:00 (1): 0 Seconds\r\n"
    "PROGRESS:  0:00:00:01 (2): 0 Seconds\r\n"
    "PROGRESS:  0:00:00:02 (3): 0 Seconds\r\n"
    "WARNING:After Effects warning: Project has missing fonts: Gotham-Bold\r\n"
    "aerender Error: After Effects error: Unable to allocate enough memory\r\n"
    "to render frame 4.\r\n"
)


def run_parse_log(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.parse_log_cmd", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def write_log(tmp_path: Path, text: str, name: str = "render.log") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_json_output(tmp_path: Path) -> None:
    result = run_parse_log(str(write_log(tmp_path, FAILED_LOG)), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["aerender_version"] == "25.6x101"
    assert summary["compositions"] == [{"name": "Main", "started": True, "finished": False}]
    assert summary["frames_done"] == 3
    assert summary["frames_total"] == 120
    assert summary["percent"] == 2.5
    assert summary["finished"] is False
    assert summary["errors"] == [
        {
            "code": "render_error",
            "message": "aerender Error: After Effects error: Unable to allocate enough memory "
            "to render frame 4.",
            "retryable": True,
        }
    ]
    assert summary["warnings"] == [
        {
            "code": "missing_fonts",
            "message": "WARNING:After Effects warning: Project has missing fonts: Gotham-Bold",
        }
    ]
    assert summary["missing_fonts"] == ["Gotham-Bold"]


def test_text_report_says_why(tmp_path: Path) -> None:
    result = run_parse_log(str(write_log(tmp_path, FAILED_LOG)))
    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert "Verdict: The render failed: After Effects reported an error during the render" in report
    assert "(render_error). Another attempt on another agent may succeed." in report
    assert "aerender version: 25.6x101" in report
    assert "  Main: started, not finished" in report
    assert "Frames: 3 of 120 (2.5%)" in report
    assert "render_error, retryable: aerender Error: After Effects error:" in report
    assert "missing_fonts: WARNING:After Effects warning:" in report
    assert "Missing fonts: Gotham-Bold" in report


def test_text_report_for_wrong_comp(tmp_path: Path) -> None:
    log = "aerender version 25.6x101\naerender ERROR: No comp was found with the given name.\n"
    result = run_parse_log(str(write_log(tmp_path, log)))
    assert result.returncode == 0, result.stderr
    assert "(comp_not_found). Retrying will fail the same way" in result.stdout
    assert "What to do: check the composition name" in result.stdout


def test_text_report_for_silent_exit(tmp_path: Path) -> None:
    log = "aerender version 25.6x101\nPROGRESS: Launching After Effects...\n"
    result = run_parse_log(str(write_log(tmp_path, log)))
    assert result.returncode == 0, result.stderr
    assert "rendered nothing and printed no error" in result.stdout
    assert "Compositions: none started" in result.stdout
    assert "Frames: no frame lines in the log, total unknown" in result.stdout


def test_frames_option_when_log_has_no_header(tmp_path: Path) -> None:
    log = "PROGRESS:  0:00:00:00 (1): 0 Seconds\nPROGRESS:  0:00:00:01 (2): 0 Seconds\n"
    result = run_parse_log(str(write_log(tmp_path, log)), "--frames", "8", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames_total"] == 8
    assert summary["percent"] == 25.0


def test_log_header_wins_over_frames_option(tmp_path: Path) -> None:
    result = run_parse_log(str(write_log(tmp_path, FAILED_LOG)), "--frames", "8", "--json")
    assert json.loads(result.stdout)["frames_total"] == 120


def test_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.log"
    result = run_parse_log(str(missing))
    assert result.returncode == 2
    assert f"log file not found: {missing}" in result.stderr
    assert result.stdout == ""


def test_folder_exits_2(tmp_path: Path) -> None:
    result = run_parse_log(str(tmp_path))
    assert result.returncode == 2
    assert "is a folder, not a log file" in result.stderr


def test_invalid_frames_exits_2(tmp_path: Path) -> None:
    result = run_parse_log(str(write_log(tmp_path, FAILED_LOG)), "--frames", "0")
    assert result.returncode == 2
    assert "invalid frame count 0" in result.stderr


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.log"
    path.write_bytes(
        "PROGRESS: 2.3.2026 9:41:07: Starting composition „Größe“.\r\n".encode("cp1252")
        + b"PROGRESS:  Dauer: 0:00:01:00\r\nPROGRESS:  Bildrate: 25,00 (Komp.)\r\n"
        + b"\xff\xfe\x81\x8d garbage\r\n"
    )
    result = run_parse_log(str(path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["compositions"][0]["name"] == "Größe"
    assert summary["frames_total"] == 25


def test_agent_command_parses_log(tmp_path: Path) -> None:
    """`aefarm-agent parse-log` runs the same command through the agent's entry point."""
    result = subprocess.run(
        [sys.executable, "-m", "agent.main", "parse-log", str(write_log(tmp_path, FAILED_LOG))]
        + ["--frames", "120", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames_done"] == 3
    assert summary["errors"][0]["code"] == "render_error"
