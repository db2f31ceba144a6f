"""Run the ffmpeg binary that imageio-ffmpeg ships."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import imageio_ffmpeg

logger = logging.getLogger(__name__)

# Lines of ffmpeg's error output kept in error messages.
_TAIL_LINES = 8


@cache
def ffmpeg_exe() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class FfmpegRun:
    returncode: int
    stderr: str

    def tail(self) -> str:
        return "\n".join(self.stderr.strip().splitlines()[-_TAIL_LINES:])


async def run_ffmpeg(args: Sequence[str]) -> FfmpegRun:
    """Run ffmpeg with args; a cancelled caller kills the process before re-raising."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    returncode = process.returncode if process.returncode is not None else -1
    return FfmpegRun(returncode, stderr.decode("utf-8", errors="replace"))
