"""Join jobs: concatenate an ordered list of clips into one video with ffmpeg.

When every clip has the same stream parameters (video codec, pixel format, size, frame rate, and
audio codec, sample rate and channel layout, or no audio in any), the clips are joined by stream
copy: nothing is re-encoded. Otherwise they are re-encoded to the join's codec (H.264 by default,
or ProRes): each clip is scaled and padded to the first clip's size and converted to its frame
rate, and a clip without audio gets silence when another clip has audio. Either way the joined
video lasts as long as its clips together.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from agent import codecs
from agent.encode import h264_args
from agent.errors import LeaseFailure
from agent.fetch import Fetcher, file_name_for
from agent.ffmpeg import run_ffmpeg
from agent.inputs import FetchTotals, UniqueNames
from agent.media import MediaInfo, ProbeError, parse_probe_output, probe_video
from agent.output_plan import RESULT_STEM
from protos import common_pb2

logger = logging.getLogger(__name__)

DEFAULT_FRAME_RATE = 30.0
# The audio of a re-encoded join: clips are resampled to it, silence is made in it.
AUDIO_RATE = 48000
AUDIO_LAYOUT = "stereo"
# ffmpeg prores_ks profiles of the ProRes codecs.
PRORES_PROFILES = {
    codecs.PRORES_422: ("3", "yuv422p10le"),
    codecs.PRORES_4444: ("4", "yuva444p10le"),
}

_STREAM = re.compile(r"Stream #0:\d+\S*: (Video|Audio): (.*)")
_PARENTHESES = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Clip:
    path: Path
    media: MediaInfo
    # The stream parameters that must match for a stream copy; see stream_parameters.
    video: tuple[str, ...]
    audio: tuple[str, ...] | None

    @property
    def seconds(self) -> float:
        media = self.media
        if media.frames and media.frame_rate:
            return media.frames / media.frame_rate
        return media.duration or 0.0


def stream_parameters(text: str) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """Read the first video and audio stream of ffmpeg's input listing.

    Video: (codec, pixel format, WIDTHxHEIGHT, frame rate); audio: (codec, sample rate, layout).
    """
    output_start = text.find("Output #0")
    inputs = text if output_start < 0 else text[:output_start]
    video: tuple[str, ...] = ()
    audio: tuple[str, ...] | None = None
    for kind, details in _STREAM.findall(inputs):
        while _PARENTHESES.search(details):
            details = _PARENTHESES.sub("", details)
        parts = [part.strip() for part in details.split(",")]
        if kind == "Video" and not video:
            size = next((p.split()[0] for p in parts if re.match(r"\d+x\d+", p)), "")
            rate = next((p for p in parts if p.endswith(" fps")), "")
            video = (parts[0].split()[0], parts[1] if len(parts) > 1 else "", size, rate)
        elif kind == "Audio" and audio is None:
            audio = tuple(
                part.split()[0] if index == 0 else part for index, part in enumerate(parts[:3])
            )
    return video, audio


async def fetch_clips(
    task: common_pb2.RenderTask, workspace: Path, fetcher: Fetcher
) -> tuple[list[Path], FetchTotals]:
    if not task.join_inputs:
        raise LeaseFailure("invalid_join", "the join task has no clips to join")
    totals = FetchTotals()
    names = UniqueNames()
    clips = []
    for index, clip in enumerate(task.join_inputs):
        name = names.claim(f"{index:03d}_{file_name_for(clip.src)}")
        fetched = await fetcher.fetch(clip.src, workspace / "clips", name=name)
        totals.count(fetched)
        clips.append(fetched.path)
    return clips, totals


async def read_clip(path: Path) -> Clip:
    run = await run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    try:
        if run.returncode != 0:
            raise ProbeError(f"ffmpeg cannot read it: {run.tail()}")
        media = parse_probe_output(run.stderr)
    except ProbeError as error:
        raise LeaseFailure(
            "invalid_join", f"clip {path.name} is not a readable video: {error}"
        ) from error
    video, audio = stream_parameters(run.stderr)
    return Clip(path, media, video, audio)


def join_codec(settings: common_pb2.RenderSettings) -> codecs.Codec:
    codec = codecs.CODECS.get(settings.codec or codecs.DEFAULT_CODEC)
    if codec is None:
        raise LeaseFailure("unknown_codec", f"settings.codec {settings.codec!r} is unknown")
    return codec


def encoder_args(codec: codecs.Codec) -> tuple[list[str], str]:
    """Return the ffmpeg encoder arguments of a re-encoded join and its file extension."""
    if codec.output_module in PRORES_PROFILES:
        profile, pixel_format = PRORES_PROFILES[codec.output_module]
        args = ["-c:v", "prores_ks", "-profile:v", profile, "-pix_fmt", pixel_format]
        return args + ["-c:a", "pcm_s16le"], ".mov"
    encode = codec.encode or codec.native_fallback
    if encode is None or encode.format != "h264":
        raise LeaseFailure(
            "unsupported_output",
            f"a join writes H.264 or ProRes video; codec {codec.codec_id!r} is neither",
        )
    return h264_args(encode), ".mp4"


def concat_filter(clips: list[Clip], width: int, height: int, frame_rate: float) -> str:
    """The filter graph of a re-encoded join; silence stands in for a clip's missing audio."""
    audio = any(clip.audio is not None for clip in clips)
    parts = []
    for index, clip in enumerate(clips):
        parts.append(
            f"[{index}:v:0]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={frame_rate:g},"
            f"format=yuv420p[v{index}]"
        )
        if not audio:
            continue
        seconds = f"{clip.seconds:.6f}"
        source = (
            f"[{index}:a:0]aresample={AUDIO_RATE},aformat=channel_layouts={AUDIO_LAYOUT},apad"
            if clip.audio is not None
            else f"anullsrc=r={AUDIO_RATE}:cl={AUDIO_LAYOUT}"
        )
        parts.append(f"{source},atrim=duration={seconds}[a{index}]")
    segments = "".join(
        f"[v{index}]" + (f"[a{index}]" if audio else "") for index in range(len(clips))
    )
    outputs = "[v][a]" if audio else "[v]"
    parts.append(f"{segments}concat=n={len(clips)}:v=1:a={1 if audio else 0}{outputs}")
    return ";".join(parts)


def can_copy(clips: list[Clip]) -> bool:
    first = clips[0]
    if not all(first.video):
        return False
    return all(clip.video == first.video and clip.audio == first.audio for clip in clips)


async def join_clips(
    paths: list[Path], settings: common_pb2.RenderSettings, output_dir: Path
) -> tuple[Path, MediaInfo]:
    """Concatenate clips in order into output_dir/result.<ext>; return it and its details."""
    clips = [await read_clip(path) for path in paths]
    output_dir.mkdir(parents=True, exist_ok=True)
    if can_copy(clips):
        output = output_dir / f"{RESULT_STEM}{paths[0].suffix or '.mp4'}"
        listing = output_dir / "clips.txt"
        listing.write_text("".join("file '" + str(p).replace("'", "'\\''") + "'\n" for p in paths))
        args = ["-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0", "-c", "copy"]
        method = "stream copy"
    else:
        codec_args, extension = encoder_args(join_codec(settings))
        output = output_dir / f"{RESULT_STEM}{extension}"
        args = ["-y"]
        for clip in clips:
            args += ["-i", str(clip.path)]
        first = clips[0].media
        # yuv420p needs even dimensions.
        width = (first.width or 2) // 2 * 2
        height = (first.height or 2) // 2 * 2
        frame_rate = first.frame_rate or DEFAULT_FRAME_RATE
        audio = any(clip.audio is not None for clip in clips)
        args += ["-filter_complex", concat_filter(clips, width, height, frame_rate)]
        args += ["-map", "[v]"] + (["-map", "[a]"] if audio else [])
        args += codec_args
        method = "re-encode"
    run = await run_ffmpeg([*args, str(output)])
    if run.returncode != 0:
        raise LeaseFailure(
            "encode_failed", f"ffmpeg could not join {len(clips)} clips ({method}): {run.tail()}"
        )
    try:
        media = await probe_video(output)
    except ProbeError as error:
        raise LeaseFailure(
            "output_incomplete", f"the joined video is unreadable: {error}"
        ) from error
    logger.info(
        "joined %d clips by %s into %s (%s frames, %.3f s of clips)",
        len(clips),
        method,
        output.name,
        media.frames,
        sum(clip.seconds for clip in clips),
    )
    return output, media
