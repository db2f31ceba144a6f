"""A job near the controller's message limit, submitted and listed with the aefarm CLI.

The controller accepts messages of up to 16 MiB, so a job with a text value of a few MiB is
valid. The CLI must read the replies that carry it, which are larger than gRPC's default of
4 MiB, instead of reporting a failure for a job that was stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.farm import TOP, Farm

pytestmark = pytest.mark.e2e

BIG_TEXT = "M" * (5 * 1024 * 1024)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    running = Farm(tmp_path_factory.mktemp("farm"))
    try:
        running.start_controller()
        yield running
    finally:
        running.stop()


def aefarm(farm: Farm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "--controller", farm.address, *args],
        capture_output=True,
        text=True,
        cwd=TOP,
        timeout=120,
        check=False,
    )


def test_job_with_big_value_submits_and_lists(farm: Farm, tmp_path: Path) -> None:
    job = {
        "template": {"src": "file:///srv/cards.aep", "composition": "Main"},
        "assets": [{"type": "essential", "property": "Headline", "value": BIG_TEXT}],
    }
    path = tmp_path / "big.json"
    path.write_text(json.dumps(job), encoding="utf-8")

    submitted = aefarm(farm, "submit", str(path))
    listed = aefarm(farm, "jobs")

    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[2]
    assert listed.returncode == 0, listed.stderr
    assert job_id in listed.stdout
