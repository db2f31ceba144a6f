"""Media details of rendered files: frame count, duration and size, read with ffmpeg."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.ffmpeg import run_ffmpeg

logger = logging.getLogger(__name__)

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO_SIZE = re.compile(r"Stream #\S+.*?: Video: .*?, (\d{1,5})x(\d{1,5})\b")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_FRAME = re.compile(r"frame=\s*(\d+)")
_INPUT_AUDIO = re.compile(r"Stream #0:\d+.*?: Audio: ")


@dataclass(frozen=True)
class MediaInfo:
    frames: int | None = None
    # Seconds.
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    has_audio: bool | None = None

    def to_dict(self) -> dict[str, float | int]:
        return {key: value for key, value in asdict(self).items() if value is not None}


class ProbeError(Exception):
    pass


async def probe_video(path: Path) -> MediaInfo:
    """Count the video frames of path by reading every packet, and read its size and rate.

    Raises ProbeError when ffmpeg cannot read the file or it has no video stream.
    """
    run = await run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    if run.returncode != 0:
        raise ProbeError(f"ffmpeg cannot read {path.name}: {run.tail()}")
    return parse_probe_output(run.stderr)


def parse_probe_output(text: str) -> MediaInfo:
    frames = None
    # ffmpeg prints frame= progress lines; the last one has the total.
    counts = _FRAME.findall(text)
    if counts:
        frames = int(counts[-1])
    duration = None
    match = _DURATION.search(text)
    if match:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    width = height = None
    frame_rate = None
    video = _VIDEO_SIZE.search(text)
    if video:
        width, height = int(video.group(1)), int(video.group(2))
        line_end = text.find("\n", video.end())
        fps = _FPS.search(text[video.start() : line_end if line_end >= 0 else None])
        if fps:
            frame_rate = float(fps.group(1))
    if frames is None and width is None:
        raise ProbeError("the file has no video stream")
    # Only the input's stream list names audio streams: the null output maps video only.
    output_start = text.find("Output #0")
    inputs = text if output_start < 0 else text[:output_start]
    has_audio = bool(_INPUT_AUDIO.search(inputs))
    return MediaInfo(frames, duration, width, height, frame_rate, has_audio)
