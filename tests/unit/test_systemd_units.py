"""The systemd unit files pass systemd-analyze verify."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
UNITS = sorted((TOP / "systemd").glob("*.service"))


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    # The units name the install location /opt/aefarm/venv; verify checks that ExecStart is
    # executable, so point it at this environment's entry points.
    bin_dir = Path(sys.executable).parent
    text = unit.read_text().replace("/opt/aefarm/venv/bin/", f"{bin_dir}/")
    copy = tmp_path / unit.name
    copy.write_text(text)

    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert unit.name not in result.stderr, result.stderr


def test_agent_unit_drains_then_stops_whole_tree() -> None:
    from agent.main import DEFAULT_DRAIN_GRACE

    text = (TOP / "systemd" / "aefarm-agent.service").read_text()
    # SIGTERM reaches the agent alone, which drains; the final SIGKILL reaches every process.
    assert "KillMode=mixed" in text
    assert f"TimeoutStopSec={DEFAULT_DRAIN_GRACE + 30:.0f}" in text
    assert "Restart=on-failure" in text
