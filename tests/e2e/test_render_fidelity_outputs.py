"""Codecs, verified outputs and stored logs, each through a real controller and a real agent."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import TOP, Farm
from tests.e2e.test_render_fidelity import FRAMES, make_templates, start_farm

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED


def lower_third_job(templates: Path, **settings: object) -> dict[str, object]:
    return {
        "template": {"src": (templates / "lower-third.aep").as_uri(), "composition": "LowerThird"},
        "settings": {"engine": "ae2026", "frames": [0, FRAMES - 1], **settings},
    }


def decode_report(video: Path) -> str:
    """Decode every frame of the first video stream with ffmpeg and return its report."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    decoded = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(video), "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return decoded.stderr


@pytest.fixture(scope="module")
def codec_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, Path]]:
    root = tmp_path_factory.mktemp("codecs")
    templates = make_templates(root / "templates")
    farm = start_farm(root / "farm", 3, root)
    try:
        yield farm, templates
    finally:
        farm.stop()


def test_cbr_codec_encodes_mp4(codec_farm: tuple[Farm, Path], tmp_path: Path) -> None:
    farm, templates = codec_farm
    job = farm.wait_final(
        farm.submit(lower_third_job(templates, codec="video_h264_cbr_5mbps")).job.id
    )

    assert job.state == FINISHED, job.error
    assert len(job.outputs) == 1
    assert job.outputs[0].name.endswith(".mp4")
    video = farm.download(job.outputs[0], tmp_path / job.outputs[0].name)
    report = decode_report(video)
    assert "Video: h264" in report
    assert re.search(rf"frame=\s*{FRAMES}\b", report), report
    assert job.frames_done == FRAMES


def test_png_codec_writes_sequence(codec_farm: tuple[Farm, Path]) -> None:
    farm, templates = codec_farm
    job = farm.wait_final(farm.submit(lower_third_job(templates, codec="image_png")).job.id)

    assert job.state == FINISHED, job.error
    names = sorted(output.name for output in job.outputs)
    assert len(names) == FRAMES
    assert all(name.endswith(".png") for name in names)
    assert names[0] == "result_00000.png"


def test_logs_command_prints_render_log(codec_farm: tuple[Farm, Path]) -> None:
    farm, templates = codec_farm
    job = farm.wait_final(farm.submit(lower_third_job(templates)).job.id)
    assert job.state == FINISHED, job.error

    result = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "logs", job.id],
        cwd=TOP,
        capture_output=True,
        env={**os.environ, "AEFARM_CONTROLLER": farm.address},
        check=False,
    )
    text = result.stdout.decode("utf-8", errors="replace")

    assert result.returncode == 0, result.stderr
    assert "Starting composition" in text
    assert "PROGRESS:  0:00:00:00 (1)" in text
    assert f"({FRAMES}):" in text


def test_logs_of_unknown_attempt(codec_farm: tuple[Farm, Path]) -> None:
    farm, templates = codec_farm
    job = farm.wait_final(farm.submit(lower_third_job(templates)).job.id)
    request = jobs_pb2.GetJobLogsRequest(id=job.id, attempt=1)
    chunks = list(farm.jobs.GetJobLogs(request, timeout=10))

    assert b"Finished composition" in b"".join(chunk.data for chunk in chunks)
    assert not any(chunk.truncated for chunk in chunks)


def test_preview_renders_small(codec_farm: tuple[Farm, Path], tmp_path: Path) -> None:
    farm, templates = codec_farm
    job = {
        "template": {"src": (templates / "main.aep").as_uri(), "composition": "Main"},
        "preview": True,
    }
    final = farm.wait_final(farm.submit(job).job.id)

    assert final.state == FINISHED, final.error
    video = farm.download(final.outputs[0], tmp_path / final.outputs[0].name)
    report = decode_report(video)
    # The 1280x720 composition comes out at most 640 pixels wide.
    assert "640x360" in report, report
