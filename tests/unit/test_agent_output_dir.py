"""The agent's --output-dir: path mapping, and the warning when no file root contains it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.config import AgentConfig
from agent.main import build_parser, config_from_args


def config(*argv: str) -> AgentConfig:
    return config_from_args(build_parser().parse_args(["--controller", "127.0.0.1:1", *argv]))


def test_output_dir_default_is_none(tmp_path: Path) -> None:
    assert config("--work-dir", str(tmp_path)).output_dir is None


def test_output_dir_path_mapped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    share = tmp_path / "share"
    found = config(
        "--work-dir",
        str(tmp_path),
        "--output-dir",
        "/renders/daily",
        "--path-map",
        f"/renders={share}",
        "--file-root",
        str(share),
    )
    assert found.output_dir == share / "daily"
    assert "--file-root" not in caplog.text


def test_output_dir_outside_roots_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.main"):
        found = config("--work-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"))
    assert found.output_dir == tmp_path / "out"
    assert f"add --file-root {tmp_path / 'out'}" in caplog.text


def test_output_dir_windows_path_rejected(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        config("--work-dir", str(tmp_path), "--output-dir", "Z:\\renders")
    assert "--path-map" in str(raised.value)
