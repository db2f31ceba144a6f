"""Join jobs: concatenate an ordered list of clips into one H.264 video with ffmpeg.

Every clip is scaled and padded to the first clip's size and converted to its frame rate, so
clips from different renders join cleanly. Audio is kept only when every clip has an audio
stream, because ffmpeg's concat filter needs the same streams in each segment.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agent import codecs
from agent.encode import h264_args
from agent.errors import LeaseFailure
from agent.fetch import Fetcher, file_name_for
from agent.ffmpeg import run_ffmpeg
from agent.inputs import FetchTotals, UniqueNames
from agent.media import MediaInfo, ProbeError, probe_video
from agent.output_plan import RESULT_STEM
from protos import common_pb2

logger = logging.getLogger(__name__)

DEFAULT_FRAME_RATE = 30.0


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


def join_encode(settings: common_pb2.RenderSettings) -> codecs.Encode:
    """Return the H.264 encode of a join: the job's H.264 codec, else the default codec."""
    codec = codecs.CODECS.get(settings.codec or codecs.DEFAULT_CODEC)
    if codec is None:
        raise LeaseFailure("unknown_codec", f"settings.codec {settings.codec!r} is unknown")
    encode = codec.encode or codec.native_fallback
    if encode is None or encode.format != "h264":
        raise LeaseFailure(
            "unsupported_output",
            f"a join writes H.264 video; codec {settings.codec!r} is not an H.264 codec",
        )
    return encode


def concat_filter(count: int, width: int, height: int, frame_rate: float, audio: bool) -> str:
    parts = []
    for index in range(count):
        parts.append(
            f"[{index}:v:0]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={frame_rate:g},"
            f"format=yuv420p[v{index}]"
        )
    segments = "".join(
        f"[v{index}]" + (f"[{index}:a:0]" if audio else "") for index in range(count)
    )
    parts.append(
        f"{segments}concat=n={count}:v=1:a={1 if audio else 0}[v]" + ("[a]" if audio else "")
    )
    return ";".join(parts)


async def join_clips(
    clips: list[Path], settings: common_pb2.RenderSettings, output_dir: Path
) -> tuple[Path, MediaInfo]:
    """Concatenate clips in order into output_dir/result.mp4; return it and its details."""
    infos = []
    for clip in clips:
        try:
            infos.append(await probe_video(clip))
        except ProbeError as error:
            raise LeaseFailure(
                "invalid_join", f"clip {clip.name} is not a readable video: {error}"
            ) from error
    first = infos[0]
    # libx264 with yuv420p needs even dimensions.
    width = (first.width or 2) // 2 * 2
    height = (first.height or 2) // 2 * 2
    frame_rate = first.frame_rate or DEFAULT_FRAME_RATE
    audio = all(info.has_audio for info in infos)
    if not audio and any(info.has_audio for info in infos):
        logger.warning("some clips have no audio: the joined video has no audio")

    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"{RESULT_STEM}.mp4"
    args = ["-y"]
    for clip in clips:
        args += ["-i", str(clip)]
    args += ["-filter_complex", concat_filter(len(clips), width, height, frame_rate, audio)]
    args += ["-map", "[v]"] + (["-map", "[a]"] if audio else [])
    args += h264_args(join_encode(settings))
    args.append(str(output))
    run = await run_ffmpeg(args)
    if run.returncode != 0:
        raise LeaseFailure(
            "encode_failed", f"ffmpeg could not join {len(clips)} clips: {run.tail()}"
        )
    try:
        media = await probe_video(output)
    except ProbeError as error:
        raise LeaseFailure(
            "output_incomplete", f"the joined video is unreadable: {error}"
        ) from error
    logger.info("joined %d clips into %s (%s frames)", len(clips), output.name, media.frames)
    return output, media
