"""Helpers for the aerender simulator tests: run it, build templates, probe and decode video.

This module contains no tests. The simulator tests import it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import imageio_ffmpeg
import py_aep

REPO = Path(__file__).resolve().parents[2]
SIMULATOR = [sys.executable, "-m", "agent.simulator"]
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
# Frame lines: timecode or frame number, then the 1-based count of this render in brackets.
FRAME_LINE = re.compile(r"^PROGRESS:  (?P<label>[0-9:;]+) \((?P<count>\d+)(?P<field>[UL]?)\): ")
RUN_TIMEOUT_SECONDS = 60


def load_template_builder() -> ModuleType:
    """Import examples/make_templates.py, which is a script rather than a package module."""
    spec = importlib.util.spec_from_file_location(
        "make_templates", REPO / "examples" / "make_templates.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def simulator_env(faults: str | None = None, version: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("AEFARM_SIM_FAULTS", None)
    env.pop("AEFARM_SIM_VERSION", None)
    if faults is not None:
        env["AEFARM_SIM_FAULTS"] = faults
    if version is not None:
        env["AEFARM_SIM_VERSION"] = version
    return env


def run_simulator(
    *arguments: str | Path, faults: str | None = None, version: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SIMULATOR, *(str(argument) for argument in arguments)],
        env=simulator_env(faults, version),
        capture_output=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def start_simulator(*arguments: str | Path, faults: str | None = None) -> subprocess.Popen[bytes]:
    """Start the simulator in its own session, so a test can kill it and its children."""
    return subprocess.Popen(
        [*SIMULATOR, *(str(argument) for argument in arguments)],
        env=simulator_env(faults),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def read_lines_until(
    process: subprocess.Popen[bytes], done: str, timeout: float = RUN_TIMEOUT_SECONDS
) -> list[str]:
    """Read stdout lines until one contains `done`; raise if it never comes.

    Reads the raw pipe, because a buffered reader can hold lines that select() never reports.
    """
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    pending = b""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(descriptor, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            chunk = os.read(descriptor, 65536)
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                lines.append(raw.decode("utf-8", errors="replace"))
                if done in lines[-1]:
                    return lines
    raise AssertionError(f"the simulator never printed {done!r}; it printed {lines}")


def kill_session(process: subprocess.Popen[bytes]) -> None:
    """Kill the simulator's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=RUN_TIMEOUT_SECONDS)
    if process.stdout is not None:
        process.stdout.close()


def log_lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    return result.stdout.decode("utf-8", errors="replace").splitlines()


def frame_lines(lines: list[str]) -> list[re.Match[str]]:
    return [match for line in lines if (match := FRAME_LINE.match(line))]


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    rate: str
    frames: int


def probe(path: Path) -> VideoInfo:
    """Decode a whole video with ffmpeg and return its stream facts and frame count."""
    result = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=True,
    )
    stream = re.search(
        r"Stream #0:0.*?Video: (\w+).*?, (\d+)x(\d+).*?, ([\d.]+) fps", result.stderr
    )
    frames = re.findall(r"frame=\s*(\d+)", result.stderr)
    assert stream is not None, result.stderr
    assert frames, result.stderr
    return VideoInfo(
        codec=stream.group(1),
        width=int(stream.group(2)),
        height=int(stream.group(3)),
        rate=stream.group(4),
        frames=int(frames[-1]),
    )


def decode_frame(path: Path, index: int) -> tuple[bytes, int, int]:
    """Decode frame `index` of a video or image to packed RGB; return it with its size."""
    info = probe(path)
    result = subprocess.run(
        [
            FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
            "-vf", f"select=eq(n\\,{index})", "-frames:v", "1",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
        ],
        capture_output=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=True,
    )  # fmt: skip
    assert len(result.stdout) == info.width * info.height * 3, "frame did not decode"
    return result.stdout, info.width, info.height


def pixel(frame: tuple[bytes, int, int], x: int, y: int) -> tuple[int, int, int]:
    data, width, _ = frame
    offset = (y * width + x) * 3
    return data[offset], data[offset + 1], data[offset + 2]


def is_close(
    color: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 24
) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(color, expected, strict=True))


def write_color_png(path: Path, color: str, size: tuple[int, int]) -> Path:
    subprocess.run(
        [
            FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"color=c={color}:s={size[0]}x{size[1]}", "-frames:v", "1", str(path),
        ],
        check=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )  # fmt: skip
    return path


def open_project(path: Path) -> py_aep.Project:
    return py_aep.parse(path).project


def comp_named(project: py_aep.Project, name: str) -> py_aep.CompItem:
    return next(comp for comp in project.compositions if comp.name == name)


def layer_named(comp: py_aep.CompItem, name: str) -> py_aep.Layer:
    return next(layer for layer in comp.layers if layer.name == name)


def save_project(project: py_aep.Project, path: Path) -> Path:
    path.unlink(missing_ok=True)
    project.save(path)
    return path
