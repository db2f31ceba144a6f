"""TOML settings, AEFARM_* overrides and check-config of the controller and the agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import main as agent_main
from controller import main as controller_main


def check_controller(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        controller_main.main(["check-config", *argv])
    captured = capsys.readouterr()
    return int(stopped.value.code or 0), captured.out, captured.err


def test_controller_file_env_and_flag_precedence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "controller.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\nport = 9000\nlease_grace = 40.0\nmax_attempts = 5\n'
    )
    monkeypatch.setenv("AEFARM_PORT", "9100")
    monkeypatch.setenv("AEFARM_MAX_ATTEMPTS", "7")

    code, out, err = check_controller(capsys, "--config", str(config), "--port", "9200")
    effective = json.loads(out)

    assert code == 0, err
    assert effective["port"] == 9200
    assert effective["max_attempts"] == 7
    assert effective["lease_grace"] == 40.0
    assert effective["data_dir"] == str(tmp_path)


def test_controller_unknown_key_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "controller.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nlease_gracee = 40\n')

    code, _, err = check_controller(capsys, "--config", str(config))

    assert code == 2
    assert "lease_gracee" in err
    assert "unknown key" in err
    assert str(config) in err


def test_controller_invalid_value_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "controller.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nport = "many"\nlog_format = "xml"\n')

    code, _, err = check_controller(capsys, "--config", str(config))

    assert code == 2
    assert "port" in err
    assert "log_format" in err


def test_controller_invalid_env_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEFARM_HEARTBEAT_INTERVAL", "soon")

    code, _, err = check_controller(capsys, "--data-dir", str(tmp_path))

    assert code == 2
    assert "AEFARM_HEARTBEAT_INTERVAL" in err


def test_controller_invalid_toml_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "controller.toml"
    config.write_text("port = = 1\n")

    code, _, err = check_controller(capsys, "--config", str(config), "--data-dir", str(tmp_path))

    assert code == 2
    assert "invalid TOML" in err


def test_controller_cross_check_still_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "controller.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nheartbeat_interval = 10\nlease_grace = 5\n')

    code, _, err = check_controller(capsys, "--config", str(config))

    assert code == 2
    assert "--lease-grace" in err


def test_agent_check_config_from_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'controller = "127.0.0.1:8470"\n'
        f'work_dir = "{tmp_path / "work"}"\n'
        'slots = 2\npool = ["gpu", "fast"]\nsimulate = true\n'
    )

    code = agent_main.main(["check-config", "--config", str(config)])
    effective = json.loads(capsys.readouterr().out)

    assert code == 0
    assert effective["slots"] == 2
    assert effective["pools"] == ["gpu", "fast"]
    assert effective["simulate"] is True
    assert effective["controller"] == "127.0.0.1:8470"


def test_agent_invalid_slots_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'controller = "127.0.0.1:8470"\nwork_dir = "{tmp_path}"\nslots = 0\n')

    with pytest.raises(SystemExit) as stopped:
        agent_main.main(["check-config", "--config", str(config)])
    err = capsys.readouterr().err

    assert stopped.value.code == 2
    assert "slots" in err
    assert "not a positive number" in err


def test_agent_env_list_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEFARM_POOL", "night, weekend")
    monkeypatch.setenv("AEFARM_SIMULATE", "yes")

    code = agent_main.main(
        ["check-config", "--controller", "127.0.0.1:1", "--work-dir", str(tmp_path)]
    )
    effective = json.loads(capsys.readouterr().out)

    assert code == 0
    assert effective["pools"] == ["night", "weekend"]
    assert effective["simulate"] is True
