"""Join jobs on a real farm: nested job inputs and a video URL stitched in order."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import imageio_ffmpeg
import pytest

from agent.media import probe_video
from protos import common_pb2
from tests.e2e.farm import TOP, Farm

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
FAILED = common_pb2.JOB_STATE_FAILED


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
        for name in ("agent-1", "agent-2"):
            farm.start_agent(name, ["--file-root", str(templates)])
        farm.wait_for_agents(2)
        yield farm
    finally:
        farm.stop()


@pytest.fixture()
def clips(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its URL."""
    folder = tmp_path / "clips"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def make_clip(path: Path, size: str, rate: int, frames: int) -> Path:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
        + ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


def render_input(templates: Path, name: str, composition: str, frames: int) -> dict[str, object]:
    return {
        "type": "job",
        "template": {"src": (templates / name).as_uri(), "composition": composition},
        "settings": {"frames": [0, frames - 1]},
    }


def seconds_of(path: Path) -> float:
    media = asyncio.run(probe_video(path))
    assert media.frames and media.frame_rate
    return media.frames / media.frame_rate


def test_join_duration_is_sum_of_clips(
    farm: Farm, templates: Path, clips: tuple[Path, str], tmp_path: Path
) -> None:
    folder, base_url = clips
    make_clip(folder / "bumper.mp4", "640x120", 25, 15)
    job = {
        "type": "join",
        "assets": [
            render_input(templates, "lower-third.aep", "LowerThird", 10),
            {"type": "video", "src": f"{base_url}/bumper.mp4"},
            render_input(templates, "lower-third.aep", "LowerThird", 20),
        ],
    }
    submitted = farm.submit(job)
    assert submitted.job.state == common_pb2.JOB_STATE_PENDING
    assert len(submitted.children) == 2

    joined = farm.wait_final(submitted.job.id)
    assert joined.state == FINISHED, joined.error
    children = [farm.get(child.id) for child in submitted.children]
    durations = [
        seconds_of(farm.download(c.outputs[0], tmp_path / f"{c.id}.mp4")) for c in children
    ]
    durations.insert(1, seconds_of(folder / "bumper.mp4"))
    output = farm.download(joined.outputs[0], tmp_path / joined.outputs[0].name)
    assert seconds_of(output) == pytest.approx(sum(durations), abs=1 / 25)


def test_join_reencodes_mixed_sizes_and_rates(
    farm: Farm, templates: Path, clips: tuple[Path, str], tmp_path: Path
) -> None:
    folder, base_url = clips
    make_clip(folder / "wide.mp4", "320x240", 30, 12)
    job = {
        "type": "join",
        "assets": [
            render_input(templates, "main.aep", "Main", 10),
            {"type": "video", "src": f"{base_url}/wide.mp4"},
            render_input(templates, "lower-third.aep", "LowerThird", 5),
        ],
        "settings": {"codec": "video_h264_vbr_5mbps"},
    }
    joined = farm.wait_final(farm.submit(job).job.id)
    assert joined.state == FINISHED, joined.error
    output = farm.download(joined.outputs[0], tmp_path / "joined.mp4")
    media = asyncio.run(probe_video(output))
    assert (media.width, media.height, media.frame_rate) == (1280, 720, 25.0)
    # 10 and 5 frames at 25 fps, and 12 frames at 30 fps.
    assert seconds_of(output) == pytest.approx(10 / 25 + 12 / 30 + 5 / 25, abs=1 / 25)


def test_join_fails_with_failed_input(farm: Farm, templates: Path, clips: tuple[Path, str]) -> None:
    folder, base_url = clips
    make_clip(folder / "bumper.mp4", "640x120", 25, 5)
    job = {
        "type": "join",
        "assets": [
            {"type": "video", "src": f"{base_url}/bumper.mp4"},
            render_input(templates, "lower-third.aep", "NoSuchComp", 5),
        ],
    }
    joined = farm.wait_final(farm.submit(job).job.id)
    assert joined.state == FAILED
    assert joined.error.code == "child_failed"
    assert "NoSuchComp" in joined.error.message
