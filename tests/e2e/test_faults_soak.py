"""A short run of scripts/soak: 20 renders, 2 agents, 4 faults (one of each kind)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.farm import TOP

pytestmark = pytest.mark.e2e


def test_short_soak_loses_nothing() -> None:
    argv = [sys.executable, str(TOP / "scripts" / "soak"), "--jobs", "20", "--agents", "2"]
    argv += ["--seconds", "90", "--faults", "4", "--seed", "1"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=TOP)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "lost:                 0" in run.stdout
    assert "applied twice:        0" in run.stdout
    assert "finished:             20" in run.stdout
