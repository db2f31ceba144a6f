"""Joining clips with real ffmpeg: stream copy when the clips match, a re-encode otherwise."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from agent import join
from agent.errors import LeaseFailure
from agent.media import probe_video
from protos import common_pb2


def make_clip(
    path: Path, *, size: str = "160x90", rate: int = 25, frames: int = 10, audio: bool = False
) -> Path:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    args = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-ac", "2", "-shortest"]
    subprocess.run([*args, str(path)], check=True)
    return path


def run_join(clips: list[Path], out: Path, codec: str = "") -> tuple[Path, float]:
    settings = common_pb2.RenderSettings(codec=codec)
    output, media = asyncio.run(join.join_clips(clips, settings, out))
    assert media.frames and media.frame_rate
    return output, media.frames / media.frame_rate


def seconds_of(path: Path) -> float:
    media = asyncio.run(probe_video(path))
    assert media.frames and media.frame_rate
    return media.frames / media.frame_rate


def test_join_matching_clips_by_stream_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clips = [make_clip(tmp_path / f"{n}.mp4", frames=frames) for n, frames in ((1, 10), (2, 15))]
    with caplog.at_level("INFO"):
        output, seconds = run_join(clips, tmp_path / "out")
    assert "by stream copy" in caplog.text
    assert output.suffix == ".mp4"
    assert seconds == pytest.approx(1.0, abs=1 / 25)


def test_join_reencodes_to_first_clip(tmp_path: Path) -> None:
    first = make_clip(tmp_path / "a.mp4", size="160x90", rate=25, frames=25)
    second = make_clip(tmp_path / "b.mp4", size="320x240", rate=30, frames=15)
    output, seconds = run_join([first, second], tmp_path / "out")
    media = asyncio.run(probe_video(output))
    assert (media.width, media.height, media.frame_rate) == (160, 90, 25.0)
    assert seconds == pytest.approx(seconds_of(first) + seconds_of(second), abs=1 / 25)


def test_join_adds_silence_for_missing_audio(tmp_path: Path) -> None:
    first = make_clip(tmp_path / "a.mp4", frames=20, audio=True)
    second = make_clip(tmp_path / "b.mp4", frames=10)
    output, seconds = run_join([first, second], tmp_path / "out")
    media = asyncio.run(probe_video(output))
    assert media.has_audio
    assert seconds == pytest.approx(30 / 25, abs=1 / 25)


def test_join_prores_writes_mov(tmp_path: Path) -> None:
    first = make_clip(tmp_path / "a.mp4", size="160x90", frames=10)
    second = make_clip(tmp_path / "b.mp4", size="162x90", frames=10)
    output, seconds = run_join([first, second], tmp_path / "out", codec="video_prores_422")
    assert output.suffix == ".mov"
    assert seconds == pytest.approx(20 / 25, abs=1 / 25)


def test_join_unreadable_clip_fails(tmp_path: Path) -> None:
    good = make_clip(tmp_path / "a.mp4")
    bad = tmp_path / "b.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(LeaseFailure) as raised:
        asyncio.run(join.join_clips([good, bad], common_pb2.RenderSettings(), tmp_path / "out"))
    assert raised.value.code == "invalid_join"
    assert "b.mp4" in str(raised.value)


def test_stream_parameters_of_listing() -> None:
    text = (
        "Input #0, mov,mp4, from 'a.mp4':\n"
        "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, "
        "progressive), 640x120 [SAR 1:1 DAR 16:3], 103 kb/s, 25 fps, 25 tbr, 12800 tbn\n"
        "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp\n"
        "Output #0, null, to 'pipe:':\n"
        "  Stream #0:0: Video: wrapped_avframe, yuv420p, 640x120, 25 fps\n"
    )
    video, audio = join.stream_parameters(text)
    assert video == ("h264", "yuv420p", "640x120", "25 fps")
    assert audio == ("aac", "48000 Hz", "stereo")
