"""Invalid jobs submitted with the CLI to a real controller are rejected and nothing is stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.farm import TOP, Farm

pytestmark = pytest.mark.e2e

TEMPLATE = {"src": "file:///srv/templates/main.aep", "composition": "Main"}

# Each case: the job, and the JSON path the rejection must name.
CASES = {
    "unknown asset type": (
        {"template": TEMPLATE, "assets": [{"type": "picture", "src": "file:///a.png"}]},
        "$.assets[0].type",
    ),
    "footage without layer": (
        {"template": TEMPLATE, "assets": [{"type": "image", "src": "file:///a.png"}]},
        "$.assets[0]",
    ),
    "nested job without template": (
        {"template": TEMPLATE, "assets": [{"type": "job", "layerName": "Slot"}]},
        "$.assets[0].template",
    ),
    "reversed frame range": (
        {"template": TEMPLATE, "settings": {"frames": [20, 10]}},
        "$.settings.frames",
    ),
    "empty frame range": (
        {"template": TEMPLATE, "settings": {"frames": 0}},
        "$.settings.frames",
    ),
    "unknown engine": (
        {"template": TEMPLATE, "settings": {"engine": "ae1999"}},
        "$.settings.engine",
    ),
    "unknown codec": (
        {"template": TEMPLATE, "settings": {"codec": "video_h265"}},
        "$.settings.codec",
    ),
}


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = Farm(tmp_path_factory.mktemp("farm"))
    try:
        farm.start_controller()
        yield farm
    finally:
        farm.stop()


def aefarm(farm: Farm, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AEFARM_CONTROLLER": farm.address}
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", *args],
        cwd=TOP,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_job_rejected_at_submit(case: str, controller: Farm, tmp_path: Path) -> None:
    job, path = CASES[case]
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job))

    result = aefarm(controller, "submit", str(job_file))

    assert result.returncode == 2, result.stdout + result.stderr
    assert path in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    listed = aefarm(controller, "jobs", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_invalid_json_names_line(controller: Farm, tmp_path: Path) -> None:
    job_file = tmp_path / "job.json"
    job_file.write_text('{"template": {"src": "file:///t.aep",\n "composition": }}')

    result = aefarm(controller, "submit", str(job_file))

    assert result.returncode == 2
    assert "line 2" in result.stderr, result.stderr
    listed = aefarm(controller, "jobs", "--all", "--json")
    assert json.loads(listed.stdout) == []


def test_every_problem_reported_at_once(controller: Farm, tmp_path: Path) -> None:
    job = {
        "template": TEMPLATE,
        "assets": [{"type": "image", "src": "file:///a.png"}],
        "settings": {"engine": "ae1999", "codec": "video_h265"},
    }
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job))

    result = aefarm(controller, "submit", str(job_file))

    assert result.returncode == 2
    for path in ("$.assets[0]", "$.settings.engine", "$.settings.codec"):
        assert path in result.stderr, result.stderr
