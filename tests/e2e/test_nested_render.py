"""A nested job rendered end to end by a real controller and two real simulated agents."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest

from controller.jobspec.parse import resolve_local_sources
from protos import common_pb2, jobs_pb2
from tests.e2e.farm import TOP, Farm, running_farm, simulator_processes

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
PENDING = common_pb2.JOB_STATE_PENDING
QUEUED = common_pb2.JOB_STATE_QUEUED
RENDERING = common_pb2.JOB_STATE_RENDERING
# The lower third's bar colour in examples/make_templates.py, as 8-bit RGB.
LOWER_THIRD_BAR = (219, 92, 26)
# The placeholder solid the parent template has on its LowerThird layer.
PLACEHOLDER_GREY = (128, 128, 128)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def nested_job(templates: Path) -> dict[str, object]:
    text = (TOP / "examples" / "nested.json").read_text()
    text = text.replace('"templates/', f'"{templates}/')
    return resolve_local_sources(json.loads(text), templates)


def frame_rgb(video: Path, width: int, height: int, at_seconds: float) -> bytes:
    """Decode one frame of `video` as packed 8-bit RGB."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    decoded = subprocess.run(
        [ffmpeg, "-v", "error", "-ss", str(at_seconds), "-i", str(video), "-frames:v", "1"]
        + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    )
    assert len(decoded.stdout) == width * height * 3
    return decoded.stdout


def pixel(frame: bytes, width: int, x: int, y: int) -> tuple[int, int, int]:
    offset = (y * width + x) * 3
    return frame[offset], frame[offset + 1], frame[offset + 2]


def close_to(
    actual: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 24
) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def states_seen(job: jobs_pb2.Job) -> list[int]:
    return [transition.state for transition in job.history]


def rendering_interval(job: jobs_pb2.Job) -> tuple[float, float]:
    starts = [t.at.ToNanoseconds() for t in job.history if t.state == RENDERING]
    ends = [t.at.ToNanoseconds() for t in job.history if t.state == FINISHED]
    return min(starts) / 1e9, max(ends) / 1e9


def test_nested_job_renders_through_tree(templates: Path, tmp_path: Path) -> None:
    with running_farm(tmp_path / "farm", agents=2) as farm:
        response = farm.submit(nested_job(templates))
        parent_id = response.job.id
        children = list(response.children)

        assert response.job.state == PENDING
        assert len(children) == 2
        assert {child.layer_name for child in children} == {"LowerThird", "LowerThird2"}
        # Dispatch is immediate and the reply waits for the store's sync, so a child may
        # already be leased or rendering in the response, but none has ended.
        started = (QUEUED, common_pb2.JOB_STATE_LEASED, common_pb2.JOB_STATE_RENDERING)
        assert all(child.state in started for child in children)

        parent = farm.wait_final(parent_id, timeout=180)
        finished_children = [farm.get(child.id) for child in children]
        assert parent.state == FINISHED, f"{parent.error}\n{farm.log('agent-1')}"
        assert len(parent.outputs) >= 1
        output = parent.outputs[0]
        video = farm.download(output, tmp_path / output.name)

    assert all(child.state == FINISHED for child in finished_children)

    # The parent left pending only after both children finished.
    queued_at = next(t.at.ToNanoseconds() for t in parent.history if t.state == QUEUED)
    for child in finished_children:
        child_finished_at = next(t.at.ToNanoseconds() for t in child.history if t.state == FINISHED)
        assert child_finished_at <= queued_at
    assert states_seen(parent)[0] == PENDING

    # The children rendered at the same time, on different agents.
    first, second = (rendering_interval(child) for child in finished_children)
    assert first[0] < second[1], (first, second)
    assert second[0] < first[1], (first, second)
    agents = {t.agent_id for child in finished_children for t in child.history if t.agent_id}
    assert len(agents) == 2

    # The parent's video shows the child's render on the LowerThird layer.
    assert hashlib.sha256(video.read_bytes()).hexdigest() == output.sha256
    assert video.stat().st_size == output.size
    frame = frame_rgb(video, 1280, 720, at_seconds=2.0)
    # A point on the lower third's bar, clear of its title: bar (600, 10) inside a 640x120 layer
    # centred at (640, 600) in the 1280x720 parent.
    seen = pixel(frame, 1280, 920, 550)
    assert close_to(seen, LOWER_THIRD_BAR), seen
    assert not close_to(seen, PLACEHOLDER_GREY), seen

    assert simulator_processes(tmp_path / "farm") == []


def test_missing_composition_fails_job(templates: Path, tmp_path: Path) -> None:
    job = {
        "template": {"src": (templates / "main.aep").as_uri(), "composition": "NoSuchComp"},
        "settings": {"engine": "ae2026"},
    }
    with running_farm(tmp_path / "farm", agents=1) as farm:
        job_id = farm.submit(job).job.id
        final = farm.wait_final(job_id, timeout=60)

    assert final.state == common_pb2.JOB_STATE_FAILED
    assert final.error.code == "comp_not_found"
    assert "NoSuchComp" in final.error.message or "comp" in final.error.message.lower()
    assert final.error.retryable is False


def test_nexrender_shape_job_renders(templates: Path, tmp_path: Path) -> None:
    text = (
        (TOP / "examples" / "nexrender.json").read_text().replace('"templates/', f'"{templates}/')
    )
    job = resolve_local_sources(json.loads(text), templates)
    with running_farm(tmp_path / "farm", agents=1) as farm:
        final = farm.wait_final(farm.submit(job).job.id, timeout=120)

    assert final.state == FINISHED, final.error
    assert final.outputs


def test_controller_restart_keeps_jobs(templates: Path, tmp_path: Path) -> None:
    farm = Farm(tmp_path / "farm")
    try:
        farm.start_controller()
        # No agent yet: the job waits queued while the controller goes down hard.
        job_id = farm.submit(nested_job(templates)).job.id
        farm.kill_controller()
        farm.start_controller()

        restored = farm.get(job_id)
        assert restored.state == PENDING
        assert len(restored.child_ids) == 2

        farm.start_agent("agent-1", extra=["--slots", "2"])
        final = farm.wait_final(job_id, timeout=180)
    finally:
        farm.stop()

    assert final.state == FINISHED, final.error


def test_agent_reconnects_after_controller_restart(templates: Path, tmp_path: Path) -> None:
    with running_farm(tmp_path / "farm", agents=1) as farm:
        farm.kill_controller()
        farm.start_controller()
        farm.wait_for_agents(1)

        job = {
            "template": {
                "src": (templates / "lower-third.aep").as_uri(),
                "composition": "LowerThird",
            },
            "settings": {"engine": "ae2026", "frames": [0, 9]},
        }
        final = farm.wait_final(farm.submit(job).job.id, timeout=60)

    assert final.state == FINISHED, final.error
    assert final.attempts == 1
