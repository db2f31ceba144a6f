"""A join job as the nested job of a render, on a real controller with two simulated agents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import TOP, Farm
from tests.e2e.test_join import seconds_of
from tests.e2e.test_nested_render import LOWER_THIRD_BAR, close_to, frame_rgb, pixel

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
FAILED = common_pb2.JOB_STATE_FAILED
PENDING = common_pb2.JOB_STATE_PENDING
QUEUED = common_pb2.JOB_STATE_QUEUED
RENDERING = common_pb2.JOB_STATE_RENDERING
# The colour of the video file clip, far from the lower third's bar and the grey placeholder.
CLIP_GREEN = (32, 192, 64)
# A point of the parent's LowerThird layer (640x120, centred at (640, 600) in Main's 1280x720)
# that the lower third's title text does not cover.
LAYER_POINT = (920, 550)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, templates: Path) -> Iterator[Farm]:
    farm = Farm(tmp_path_factory.mktemp("farm"))
    try:
        farm.start_controller()
        for name in ("agent-1", "agent-2"):
            farm.start_agent(name, ["--file-root", str(templates)])
        farm.wait_for_agents(2)
        yield farm
    finally:
        farm.stop()


def make_green_clip(path: Path, frames: int) -> Path:
    """Write a 640x120 H.264 clip at 25 fps in CLIP_GREEN, the size of a lower third."""
    color = "0x{:02x}{:02x}{:02x}".format(*CLIP_GREEN)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c={color}:s=640x120:r=25"]
        + ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


def lower_third(src: str, composition: str, frames: int) -> dict[str, Any]:
    return {
        "type": "job",
        "template": {"src": src, "composition": composition},
        "settings": {"frames": [0, frames - 1]},
    }


def parent_with_join(main_src: str, join_inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a render of 20 frames of Main whose LowerThird layer shows a join of the inputs."""
    return {
        "template": {"src": main_src, "composition": "Main"},
        "assets": [
            {
                "type": "job",
                "layerName": "LowerThird",
                "job": {"type": "join", "assets": join_inputs},
            }
        ],
        "settings": {"frames": [0, 19]},
    }


def cli(farm: Farm, *args: str) -> Any:
    """Run an aefarm command with --json against the farm and return its decoded output."""
    argv = [sys.executable, "-m", "controller.cli.main", "--controller", farm.address, *args]
    done = subprocess.run(argv, cwd=TOP, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def first_at(job: jobs_pb2.Job, state: int) -> int:
    return next(t.at.ToNanoseconds() for t in job.history if t.state == state)


def agents_of(job: jobs_pb2.Job) -> set[str]:
    return {t.agent_id for t in job.history if t.state == RENDERING and t.agent_id}


def test_join_fills_parent_layer(farm: Farm, templates: Path, tmp_path: Path) -> None:
    make_green_clip(tmp_path / "green.mp4", frames=10)
    # Relative paths, which `aefarm submit` resolves against the job file's folder.
    lower_third_src = os.path.relpath(templates / "lower-third.aep", tmp_path)
    job = parent_with_join(
        os.path.relpath(templates / "main.aep", tmp_path),
        [
            lower_third(lower_third_src, "LowerThird", frames=10),
            {"type": "video", "src": "green.mp4"},
            lower_third(lower_third_src, "LowerThird", frames=5),
        ],
    )
    (tmp_path / "job.json").write_text(json.dumps(job))

    submitted = cli(farm, "submit", "--json", str(tmp_path / "job.json"))
    parent_id = submitted["job"]["id"]
    join, first, second = submitted["children"]
    assert submitted["job"]["state"] == "pending"
    assert submitted["job"]["children"] == [join["id"]]
    assert (join["kind"], join["layer_name"], join["state"]) == ("join", "LowerThird", "pending")
    assert join["children"] == [first["id"], second["id"]]
    assert {first["parent"], second["parent"]} == {join["id"]}

    parent = farm.wait_final(parent_id, timeout=180)
    assert parent.state == FINISHED, parent.error
    joined, inputs = farm.get(join["id"]), [farm.get(first["id"]), farm.get(second["id"])]
    assert joined.state == FINISHED, joined.error

    # The inputs rendered on both agents, the join waited for them, the parent for the join.
    assert agents_of(inputs[0]) | agents_of(inputs[1]) == {"agent-1", "agent-2"}
    assert first_at(joined, QUEUED) >= max(first_at(job, FINISHED) for job in inputs)
    assert first_at(parent, QUEUED) >= first_at(joined, FINISHED)

    durations = [
        seconds_of(farm.download(job.outputs[0], tmp_path / f"{job.id}.mp4")) for job in inputs
    ]
    durations.insert(1, seconds_of(tmp_path / "green.mp4"))
    joined_video = farm.download(joined.outputs[0], tmp_path / "joined.mp4")
    assert seconds_of(joined_video) == pytest.approx(sum(durations), abs=1 / 25)

    # The layer shows the first clip (the lower third's bar) for its 0.4 s, then the green clip.
    video = farm.download(parent.outputs[0], tmp_path / "parent.mp4")
    in_first = pixel(frame_rgb(video, 1280, 720, at_seconds=0.2), 1280, *LAYER_POINT)
    in_second = pixel(frame_rgb(video, 1280, 720, at_seconds=0.6), 1280, *LAYER_POINT)
    assert close_to(in_first, LOWER_THIRD_BAR), in_first
    assert close_to(in_second, CLIP_GREEN), in_second

    shown = cli(farm, "job", "--json", join["id"])
    assert (shown["kind"], shown["state"], shown["parent"]) == ("join", "finished", parent_id)
    watched = farm.jobs.WatchJob(jobs_pb2.WatchJobRequest(id=parent_id), timeout=10)
    events = list(watched)
    assert {event.job.id for event in events} == {parent_id, join["id"], first["id"], second["id"]}
    assert events[-1].tree_progress == 100.0


def test_failed_join_input_fails_parent(farm: Farm, templates: Path, tmp_path: Path) -> None:
    make_green_clip(tmp_path / "green.mp4", frames=5)
    job = parent_with_join(
        (templates / "main.aep").as_uri(),
        [
            {"type": "video", "src": (tmp_path / "green.mp4").as_uri()},
            lower_third((templates / "lower-third.aep").as_uri(), "NoSuchComp", frames=5),
        ],
    )
    submitted = farm.submit(job)
    join, failing = submitted.children

    parent = farm.wait_final(submitted.job.id)
    joined, input_job = farm.get(join.id), farm.get(failing.id)
    assert input_job.state == FAILED
    assert input_job.error.code == "comp_not_found"
    assert joined.state == FAILED
    assert joined.error.code == "child_failed"
    assert f"child job {failing.id} (join input assets[1]) failed" in joined.error.message
    assert parent.state == FAILED
    assert parent.error.code == "child_failed"
    assert f"child job {join.id} (layer 'LowerThird') failed" in parent.error.message
    assert input_job.error.message in parent.error.message
    assert not parent.outputs
