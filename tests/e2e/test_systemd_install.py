"""scripts/install-agent: its dry run changes nothing, and a --prefix install writes a unit
that systemd-analyze accepts and a configuration that check-config accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.farm import TOP

pytestmark = pytest.mark.e2e

SCRIPT = TOP / "scripts" / "install-agent"


def install(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *argv], capture_output=True, text=True, timeout=60, cwd=TOP)


def test_dry_run_prints_steps_and_changes_nothing(tmp_path: Path) -> None:
    done = install("--controller", "farm:8470", "--prefix", str(tmp_path), "--dry-run")

    assert done.returncode == 0, done.stderr
    assert "would run:" in done.stdout
    assert "venv" in done.stdout
    assert "aefarm-agent.service" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_missing_controller_is_an_error(tmp_path: Path) -> None:
    done = install("--prefix", str(tmp_path))

    assert done.returncode == 2
    assert "--controller HOST:PORT is required" in done.stderr


def test_prefix_install_writes_valid_files(tmp_path: Path) -> None:
    # The unit names PREFIX/opt/aefarm/venv; point it at this environment.
    venv = tmp_path / "opt" / "aefarm" / "venv"
    venv.parent.mkdir(parents=True)
    venv.symlink_to(Path(sys.executable).parent.parent)

    done = install("--controller", "farm:8470", "--prefix", str(tmp_path), "--no-venv")
    config = tmp_path / "etc" / "aefarm" / "agent.toml"
    unit = tmp_path / "etc" / "systemd" / "system" / "aefarm-agent.service"
    checked = subprocess.run(
        [sys.executable, "-m", "agent.main", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=TOP,
    )

    assert done.returncode == 0, done.stderr
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["controller"] == "farm:8470"
    assert f"--config {config}" in unit.read_text()
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stderr
    assert "aefarm-agent.service" not in verified.stderr, verified.stderr


def test_existing_config_is_kept(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "aefarm" / "agent.toml"
    config.parent.mkdir(parents=True)
    config.write_text('controller = "kept:1"\n')

    done = install("--controller", "farm:8470", "--prefix", str(tmp_path), "--no-venv")

    assert done.returncode == 0, done.stderr
    assert config.read_text() == 'controller = "kept:1"\n'
