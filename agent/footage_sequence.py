"""Fetch the frames of an image-sequence footage asset (`"sequence": true`).

After Effects imports a sequence from one of its files and reads every file in that folder
that is numbered like it. A local source (a `file://` URI or a path) names such a file, so the
agent copies it and every other frame of its sequence. Those are the files in the same folder
whose names differ from it only in the last run of digits, with as many digits when the number
is zero-padded. The frames keep their own names, in a folder of their own in the workspace, so
the numbering that After Effects reads stays whole. Every frame must lie inside the file roots.

A remote source (http, https, s3, artifact, data) names one file and no folder to list, so
only that file is fetched and the sequence has one frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import urllib.parse
import uuid
from pathlib import Path

from agent.fetch import FetchedFile, Fetcher, fetch_error, file_name_for
from agent.pathmap import is_local_path, path_of_file_uri

logger = logging.getLogger(__name__)

# The last run of digits in a file name's stem, which numbers the frames of a sequence.
_FRAME_NUMBER = re.compile(r"(\d+)(?!.*\d)")


async def fetch_sequence(
    fetcher: Fetcher, source: str, directory: Path, *, sha256: str = ""
) -> list[FetchedFile]:
    """Fetch source and, when it is local, the other frames of its sequence into directory.

    Returns the fetched files, the file that source names first. When sha256 is given, that
    file must have that hash.
    """
    named = await fetcher.fetch(source, directory, name=file_name_for(source), sha256=sha256)
    local = _local_source(source)
    if local is None:
        logger.warning(
            "image sequence %s is not a local file, so only that one frame was fetched; give a "
            "file:// source to fetch every frame of the sequence",
            source,
        )
        return [named]
    first = fetcher.local_path(source, local)
    others = [frame for frame in sequence_frames(first) if frame != first]
    for frame in others:
        resolved = frame.resolve()
        if not any(resolved.is_relative_to(root) for root in fetcher.file_roots):
            raise fetch_error(
                source,
                f"frame {frame} of the sequence leads to {resolved}, outside the allowed file "
                "roots; keep every frame inside a --file-root",
                retryable=False,
            )
    try:
        copied = await asyncio.to_thread(_copy_frames, others, directory)
    except OSError as error:
        raise fetch_error(
            source, f"copying the sequence failed: {error}", retryable=True
        ) from error
    logger.info("fetched image sequence %s: %d frames", source, 1 + len(copied))
    return [named, *copied]


def sequence_frames(file: Path) -> list[Path]:
    """Return the files of the image sequence that file belongs to, by frame number."""
    match = _FRAME_NUMBER.search(file.stem)
    if match is None:
        return [file]
    digits = match.group(1)
    prefix, suffix = file.name[: match.start()], file.name[match.end() :]
    number = rf"\d{{{len(digits)}}}" if digits.startswith("0") else r"(?:0|[1-9]\d*)"
    pattern = re.compile(re.escape(prefix) + f"({number})" + re.escape(suffix))
    frames: list[tuple[int, Path]] = []
    with os.scandir(file.parent) as entries:
        for entry in entries:
            found = pattern.fullmatch(entry.name)
            if found is not None and entry.is_file():
                frames.append((int(found.group(1)), Path(entry.path)))
    return [path for _, path in sorted(frames)] or [file]


def _local_source(source: str) -> str | None:
    if is_local_path(source):
        return source
    if urllib.parse.urlsplit(source).scheme.lower() == "file":
        return path_of_file_uri(source)
    return None


def _copy_frames(frames: list[Path], directory: Path) -> list[FetchedFile]:
    copied = []
    for frame in frames:
        destination = directory / frame.name
        temporary = destination.with_name(f".{frame.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            shutil.copyfile(frame, temporary)
            os.replace(temporary, destination)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        copied.append(FetchedFile(destination, destination.stat().st_size))
    return copied
