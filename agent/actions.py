"""nexrender postrender actions the agent runs after the render: copy and encode.

@nexrender/action-copy {output, input?} copies the result (or `input`) to `output`: a file
path, or a folder when it ends with a separator or is an existing folder.
@nexrender/action-encode {preset | params, output?} encodes the result with ffmpeg; the encoded
file replaces the result, so it is what the job publishes. Presets: mp4 (H.264 and AAC), webm
(VP9 and Opus), gif, mov (ProRes 422). params is a map of ffmpeg options such as
{"-vcodec": "libx264", "-r": 25}, applied after the input.

Relative paths resolve in the lease's workspace. Actions run in the order the job lists them.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from agent.errors import LeaseFailure
from agent.ffmpeg import run_ffmpeg

logger = logging.getLogger(__name__)

COPY_MODULE = "@nexrender/action-copy"
ENCODE_MODULE = "@nexrender/action-encode"

# Preset: (extension, ffmpeg output options).
PRESETS: dict[str, tuple[str, list[str]]] = {
    "mp4": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags",
                     "+faststart", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"]),
    "webm": (".webm", ["-c:v", "libvpx-vp9", "-b:v", "2M", "-c:a", "libopus"]),
    "gif": (".gif", ["-vf", "fps=12,scale=trunc(iw/2)*2:-2:flags=lanczos", "-loop", "0"]),
    "mov": (".mov", ["-c:v", "prores_ks", "-profile:v", "2", "-c:a", "pcm_s16le"]),
}  # fmt: skip


def parse_postrender(text: str) -> list[dict[str, Any]]:
    if not text:
        return []
    actions = json.loads(text)
    if not isinstance(actions, list):
        raise LeaseFailure("invalid_action", "postrender actions must be a list")
    return actions


async def run_postrender(text: str, files: list[Path], workspace: Path) -> list[Path]:
    """Run the postrender actions on the result files; return the files to publish."""
    for index, action in enumerate(parse_postrender(text)):
        module = action.get("module")
        where = f"actions.postrender[{index}] ({module})"
        if module == COPY_MODULE:
            copy_result(action, files, workspace, where)
        elif module == ENCODE_MODULE:
            files = [await encode_result(action, files, workspace, where)]
        else:
            raise LeaseFailure(
                "invalid_action",
                f"{where}: this agent runs only {COPY_MODULE} and {ENCODE_MODULE}",
            )
    return files


def _path(value: str, workspace: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else workspace / path


def _source(action: dict[str, Any], files: list[Path], workspace: Path, where: str) -> Path:
    if action.get("input"):
        source = _path(str(action["input"]), workspace)
        if not source.exists():
            raise LeaseFailure("invalid_action", f"{where}: input {source} does not exist")
        return source
    if not files:
        raise LeaseFailure("invalid_action", f"{where}: the render left no result to act on")
    return files[0]


def copy_result(action: dict[str, Any], files: list[Path], workspace: Path, where: str) -> Path:
    source = _source(action, files, workspace, where)
    output = str(action["output"])
    target = _path(output, workspace)
    if output.endswith(("/", "\\")) or target.is_dir():
        target = target / source.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    except OSError as error:
        raise LeaseFailure(
            "action_failed", f"{where}: cannot copy {source.name} to {target}: {error}"
        ) from error
    logger.info("%s: copied %s to %s", where, source.name, target)
    return target


def encode_args(action: dict[str, Any], where: str) -> tuple[str, list[str]]:
    preset = action.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            known = ", ".join(PRESETS)
            raise LeaseFailure("invalid_action", f"{where}: unknown preset {preset!r}; use {known}")
        extension, args = PRESETS[preset]
    else:
        extension, args = ".mp4", []
    for key, value in (action.get("params") or {}).items():
        args = [*args, str(key), str(value)]
    return extension, args


async def encode_result(
    action: dict[str, Any], files: list[Path], workspace: Path, where: str
) -> Path:
    source = _source(action, files, workspace, where)
    extension, args = encode_args(action, where)
    output = action.get("output")
    target = _path(str(output), workspace) if output else source.with_name(f"encoded{extension}")
    target.parent.mkdir(parents=True, exist_ok=True)
    run = await run_ffmpeg(["-y", "-i", str(source), *args, str(target)])
    if run.returncode != 0 or not target.exists():
        raise LeaseFailure("encode_failed", f"{where}: ffmpeg failed: {run.tail()}")
    logger.info("%s: encoded %s to %s", where, source.name, target.name)
    return target
