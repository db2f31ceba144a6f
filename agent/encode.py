"""The encode step: turn a lossless intermediate into the requested codec with ffmpeg."""

from __future__ import annotations

import logging
from pathlib import Path

from agent.codecs import Encode
from agent.errors import LeaseFailure
from agent.ffmpeg import run_ffmpeg

logger = logging.getLogger(__name__)

# Digits of image-sequence frame numbers, as in After Effects' [#####].
SEQUENCE_DIGITS = 5


def h264_args(encode: Encode) -> list[str]:
    """Return the libx264 and AAC arguments for the bit rate and rate control of encode."""
    kbps = encode.bitrate_kbps
    args = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-b:v", f"{kbps}k"]
    if encode.rate_control == "cbr":
        args += ["-minrate", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k"]
        args += ["-x264-params", "nal-hrd=cbr"]
    else:
        # Variable bit rate around the target, with peaks up to twice of it.
        args += ["-maxrate", f"{2 * kbps}k", "-bufsize", f"{2 * kbps}k"]
    args += ["-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart"]
    return args


def encode_args(
    source: Path, encode: Encode, output_dir: Path, *, stem: str, first_frame: int
) -> list[str]:
    """Return the ffmpeg arguments that encode source into output_dir as stem.<ext>."""
    args = ["-y", "-i", str(source), "-map", "0:v:0"]
    if encode.format == "h264":
        # A comma separates filters in -vf, so the one inside min() is escaped.
        width = f"min({encode.max_width}\\,iw)" if encode.max_width else "iw"
        # yuv420p needs even dimensions; After Effects compositions may have odd ones.
        args += ["-map", "0:a?", "-vf", f"scale=trunc({width}/2)*2:-2"]
        args += h264_args(encode)
        args.append(str(output_dir / f"{stem}.mp4"))
        return args

    pattern = f"{stem}_%0{SEQUENCE_DIGITS}d{encode.extension}"
    if encode.format == "jpeg":
        args += ["-q:v", "2"]
    args += ["-start_number", str(first_frame), "-f", "image2", str(output_dir / pattern)]
    return args


async def encode_output(
    source: Path, encode: Encode, output_dir: Path, *, stem: str, first_frame: int = 0
) -> list[Path]:
    """Encode source into output_dir; return the files written, in order.

    first_frame numbers the first image of a sequence, so the file names carry the
    composition's frame numbers as After Effects names them.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    args = encode_args(source, encode, output_dir, stem=stem, first_frame=first_frame)
    logger.info("encoding %s to %s", source.name, encode)
    run = await run_ffmpeg(args)
    if run.returncode != 0:
        raise LeaseFailure(
            "encode_failed",
            f"ffmpeg could not encode {source.name} to {encode.format}: exit code "
            f"{run.returncode}: {run.tail()}",
        )
    if encode.sequence:
        files = sorted(output_dir.glob(f"{stem}_*{encode.extension}"))
    else:
        files = [output_dir / f"{stem}.mp4"]
    if not files or not all(path.is_file() and path.stat().st_size > 0 for path in files):
        raise LeaseFailure("encode_failed", f"ffmpeg wrote no {encode.format} output")
    return files
