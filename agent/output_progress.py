"""Progress of an image-sequence render from the frames it writes, for logs without frame lines.

Some output modules print no frame lines, so the log cannot tell how far a render is. For an
image sequence every frame is one file, so the number of frame files in the output folder is
the number of frames done. A watchdog observer on the folder notices each new or grown file,
and the count is taken from a listing of the folder, so a missed event only delays it.

A movie grows by an amount per frame that depends on the codec and the picture, so its size
gives no honest frame count, and its progress stays unknown.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

logger = logging.getLogger(__name__)

# `[#####]` in an -output name, where After Effects puts the frame number.
SEQUENCE_PLACEHOLDER = re.compile(r"\[#+\]")


def sequence_pattern(output: Path) -> re.Pattern[str] | None:
    """Return the pattern of frame file names for an -output with [#####], else None."""
    parts = SEQUENCE_PLACEHOLDER.split(output.name, maxsplit=1)
    if len(parts) != 2:
        return None
    prefix, suffix = parts
    return re.compile(re.escape(prefix) + r"\d+" + re.escape(suffix) + r"\Z")


class SequenceFrameCounter:
    """Counts the frame files of one image-sequence output while the render writes them.

    on_change runs in the observer's thread after each file event in the folder; the caller
    hands it to its own event loop.
    """

    def __init__(self, output: Path, on_change: Callable[[], None]) -> None:
        pattern = sequence_pattern(output)
        if pattern is None:
            raise ValueError(f"output {output} is missing the [#####] placeholder of a sequence")
        self._folder = output.parent
        self._pattern = pattern
        self._on_change = on_change
        self._lock = threading.Lock()
        self._frames = 0
        self._observer: Observer | None = None  # type: ignore[valid-type]

    @property
    def frames(self) -> int:
        """Frame files with content seen in the last count."""
        with self._lock:
            return self._frames

    def start(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Handler(self._changed), str(self._folder), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        observer = self._observer
        self._observer = None
        if observer is not None:
            observer.stop()
            observer.join()
        self.count()

    def count(self) -> int:
        """List the folder and return the frame files that have content."""
        frames = 0
        try:
            entries = list(os.scandir(self._folder))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if not self._pattern.match(entry.name):
                continue
            try:
                if entry.is_file() and entry.stat().st_size > 0:
                    frames += 1
            except FileNotFoundError:
                continue
        with self._lock:
            self._frames = frames
        return frames

    def _changed(self) -> None:
        before = self.frames
        if self.count() != before:
            self._on_change()


class _Handler(FileSystemEventHandler):
    def __init__(self, changed: Callable[[], None]) -> None:
        self._changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        try:
            self._changed()
        except Exception:
            # An exception would end the observer thread and with it every later count.
            logger.exception("counting sequence frames failed")
