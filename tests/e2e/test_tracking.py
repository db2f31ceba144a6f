"""Watching a job tree on a real farm: resuming after a disconnect and a restart loses nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import FINAL_STATES, TOP, Farm

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture()
def farm(tmp_path: Path, templates: Path) -> Iterator[Farm]:
    farm = Farm(tmp_path / "farm")
    try:
        farm.start_controller()
        farm.start_agent("agent-1", ["--file-root", str(templates)])
        farm.wait_for_agents(1)
        yield farm
    finally:
        farm.stop()


def nested_job(templates: Path) -> dict[str, object]:
    return {
        "template": {"src": (templates / "main.aep").as_uri(), "composition": "Main"},
        "assets": [
            {
                "type": "job",
                "layerName": "LowerThird",
                "template": {
                    "src": (templates / "lower-third.aep").as_uri(),
                    "composition": "LowerThird",
                },
                "settings": {"frames": [0, 9]},
            }
        ],
        "settings": {"frames": [0, 9]},
    }


def watch(farm: Farm, job_id: str, after: int = 0) -> Iterator[jobs_pb2.JobEvent]:
    request = jobs_pb2.WatchJobRequest(id=job_id, after_sequence=after)
    return farm.jobs.WatchJob(request, timeout=120)


def test_resumed_watch_misses_no_event(farm: Farm, templates: Path) -> None:
    job_id = farm.submit(nested_job(templates)).job.id
    whole: list[jobs_pb2.JobEvent] = []
    thread = threading.Thread(target=lambda: whole.extend(watch(farm, job_id)))
    thread.start()

    seen = []
    stream = watch(farm, job_id)
    for event in stream:
        seen.append(event)
        if len(seen) == 3 or event.job.state in FINAL_STATES:
            break
    stream.cancel()  # type: ignore[attr-defined]
    last = seen[-1].sequence
    thread.join()
    assert whole[-1].job.state == common_pb2.JOB_STATE_FINISHED

    resumed = list(watch(farm, job_id, after=last))
    expected = [event.sequence for event in whole if event.sequence > last]
    assert [event.sequence for event in resumed] == expected
    assert resumed[-1].job.state == common_pb2.JOB_STATE_FINISHED

    farm.kill_controller()
    farm.start_controller()
    after_restart = list(watch(farm, job_id, after=last))
    assert [event.sequence for event in after_restart] == expected


def test_tree_progress_never_drops(farm: Farm, templates: Path) -> None:
    job_id = farm.submit(nested_job(templates)).job.id
    events = list(watch(farm, job_id))
    progress = [event.tree_progress for event in events]
    assert events[-1].job.state == common_pb2.JOB_STATE_FINISHED
    assert progress == sorted(progress)
    assert progress[-1] == 100.0
