"""Run ffmpeg on a filter graph and follow its progress frame by frame."""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg

logger = logging.getLogger(__name__)

# ffmpeg writes a progress block this often, so frame lines follow the render this closely.
PROGRESS_PERIOD_SECONDS = 0.1
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_STDERR_TAIL_CHARACTERS = 2000


def ffmpeg_executable() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _die_with_parent() -> None:
    """Make the kernel kill ffmpeg when the simulator dies, even by SIGKILL (Linux only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class FfmpegProcess:
    """One ffmpeg run with `-progress pipe:1`, its stderr written to a file in the work folder."""

    def __init__(self, arguments: list[str], work_dir: Path) -> None:
        command = [
            ffmpeg_executable(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
            "-nostats", "-progress", "pipe:1", "-stats_period", str(PROGRESS_PERIOD_SECONDS),
            *arguments,
        ]  # fmt: skip
        logger.debug("starting ffmpeg: %s", command)
        self._stderr_path = work_dir / "ffmpeg-stderr.txt"
        with open(self._stderr_path, "wb") as stderr:
            self._process = subprocess.Popen(
                command,
                cwd=work_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def frames_done(self) -> Iterator[int]:
        """Yield the number of frames encoded so far each time ffmpeg reports progress."""
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            key, _, value = raw.decode("ascii", errors="replace").strip().partition("=")
            if key == "frame" and value.isdigit():
                yield int(value)
            elif key == "progress" and value == "end":
                break

    def wait(self) -> int:
        if self._process.stdout is not None:
            self._process.stdout.close()
        return self._process.wait()

    def kill(self) -> None:
        self._process.kill()
        self.wait()

    def error_text(self) -> str:
        """Return the end of ffmpeg's error output, or a note that it printed none."""
        try:
            text = self._stderr_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        if not text:
            return "ffmpeg printed no error"
        return " ".join(text[-_STDERR_TAIL_CHARACTERS:].split())
