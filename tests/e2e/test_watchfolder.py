"""A real controller submits job files dropped into its watch folder, once each."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.farm import Farm

pytestmark = pytest.mark.e2e


def wait_for(path: Path, timeout: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)
    return path


def valid_job(name: str) -> dict[str, object]:
    return {
        "template": {"src": "https://example.invalid/templates/main.aep", "composition": name},
        "settings": {"frames": [0, 9]},
    }


def root_jobs(farm: Farm) -> list[object]:
    from protos import jobs_pb2

    return list(farm.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10).jobs)


def test_watch_folder_submits_rejects_and_dedups(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    farm = Farm(tmp_path)
    flags = ["--watch-folder", str(folder)]
    try:
        farm.start_controller(flags)
        (folder / "good.json").write_text(json.dumps(valid_job("Main")))
        (folder / "bad.json").write_text(json.dumps({"template": {}, "settings": {"frames": "x"}}))
        (folder / "broken.json").write_text("{not json")
        (folder / "notes.txt").write_text("not a job file")

        wait_for(folder / "submitted" / "good.json")
        bad_error = wait_for(folder / "rejected" / "bad.json.error.txt")
        broken_error = wait_for(folder / "rejected" / "broken.json.error.txt")
        first = root_jobs(farm)

        # The controller stops after it recorded the file but, as in a crash, before a second
        # copy was moved: a restart must not submit that same file again.
        farm.stop()
        (folder / "good.json").write_text(json.dumps(valid_job("Main")))
        farm.start_controller(flags)
        deadline = time.monotonic() + 30
        while (folder / "good.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        after_restart = root_jobs(farm)
    finally:
        farm.stop()
    log = farm.log("controller")

    assert len(first) == 1
    assert f"submitted good.json as job {first[0].id}" in log  # type: ignore[attr-defined]
    assert "$.template" in bad_error.read_text()
    assert bad_error.read_text().count("\n") >= 2
    assert "invalid JSON" in broken_error.read_text()
    assert (folder / "notes.txt").exists()
    assert not (folder / "good.json").exists()
    assert len(after_restart) == 1


def test_watch_folder_waits_for_growing_file(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    farm = Farm(tmp_path)
    text = json.dumps(valid_job("Main"))
    try:
        farm.start_controller(["--watch-folder", str(folder)])
        with open(folder / "slow.json", "w") as file:
            file.write(text[:10])
            file.flush()
            time.sleep(0.2)
            file.write(text[10:])
        wait_for(folder / "submitted" / "slow.json")
    finally:
        farm.stop()

    assert not (folder / "rejected" / "slow.json").exists()
