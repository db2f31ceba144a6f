"""The log aerender prints: version and launch lines, comp headers, one line per frame.

Lines are written as bytes and flushed one by one, so a reader of the pipe or the `-log` file
gets progress live. Header lines and frame lines follow the shapes aerender prints (see the
`RenderLog` methods). Faults change the language, timecode, encoding and field markers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

from agent.simulator.timecode import format_elapsed, format_rate, format_timecode

logger = logging.getLogger(__name__)

PROGRESS_PREFIX = "PROGRESS:  "


@dataclass(frozen=True)
class LogStyle:
    """The printing style of frame labels, names and numbers, which faults change."""

    german: bool = False
    non_utf8: bool = False
    frames_display: bool = False
    drop_frame: bool = False
    fields: bool = False


_ENGLISH = {"start": "Start", "end": "End", "duration": "Duration", "rate": "Frame Rate"}
_GERMAN = {"start": "Anfang", "end": "Ende", "duration": "Dauer", "rate": "Framerate"}


class RenderLog:
    """Writes aerender's log lines to stdout or the `-log` file."""

    def __init__(self, sink: BinaryIO, progress: bool, style: LogStyle | None = None) -> None:
        self._sink: BinaryIO | None = sink
        self._progress = progress
        self.style = style or LogStyle()

    def write_line(self, text: str | bytes) -> None:
        """Write one line. Once the reader has gone, the render goes on without a log."""
        if self._sink is None:
            return
        data = text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")
        try:
            self._sink.write(data + b"\n")
            self._sink.flush()
        except (BrokenPipeError, ValueError, OSError) as error:
            logger.warning("stopped writing the render log: %s", error)
            self._sink = None

    def progress(self, text: str | bytes) -> None:
        """Write a `PROGRESS:` line, unless `-v ERRORS` was given."""
        if not self._progress:
            return
        if isinstance(text, bytes):
            self.write_line(PROGRESS_PREFIX.encode() + text)
        else:
            self.write_line(PROGRESS_PREFIX + text)

    def error(self, text: str) -> None:
        self.write_line(text)

    def warning(self, text: str) -> None:
        self.write_line(f"WARNING:After Effects warning: {text}")

    def version(self, version_text: str) -> None:
        self.write_line(f"aerender version {version_text}")

    def launch(self, project: str) -> None:
        self.progress("Launching After Effects...")
        self.progress("...After Effects successfully launched")
        self.progress(f"Opening project {project}")

    def comp_started(self, comp_name: str) -> None:
        self._comp_event(comp_name, "Starting composition")
        if self.style.non_utf8:
            self.progress(
                f"Vorschau f\u00fcr Komposition \u201e{comp_name}\u201c gepr\u00fcft".encode(
                    "cp1252", errors="replace"
                )
            )

    def comp_finished(self, comp_name: str, elapsed_seconds: float) -> None:
        self._comp_event(comp_name, "Finished composition")
        self.progress("")
        self.progress(f"Total Time Elapsed: {format_elapsed(elapsed_seconds)}")

    def settings(self, render_settings: str, output_module: str, output_path: str) -> None:
        self.progress("")
        self.progress(f"Render Settings: {render_settings}")
        self.progress(f"Output Module: {output_module}")
        self.progress(f"    Output To: {output_path}")

    def headers(self, first_frame: int, last_frame: int, rate: Fraction) -> None:
        """Write Start, End (inclusive), Duration and Frame Rate for displayed frame numbers."""
        names = _GERMAN if self.style.german else _ENGLISH
        duration = last_frame - first_frame + 1
        self.progress(f"{names['start']}: {self.frame_label(first_frame, rate)}")
        self.progress(f"{names['end']}: {self.frame_label(last_frame, rate)}")
        self.progress(f"{names['duration']}: {self.frame_label(duration, rate)}")
        comp_word = "Komp." if self.style.german else "comp"
        rate_text = format_rate(rate, decimal_comma=self.style.german)
        self.progress(f"{names['rate']}: {rate_text} ({comp_word})")

    def frame(self, displayed_frame: int, count: int, seconds: float, rate: Fraction) -> None:
        """Write the line for one finished frame. `count` is 1-based within this render."""
        field = "U" if self.style.fields else ""
        unit = "Sekunden" if self.style.german else "Seconds"
        label = self.frame_label(displayed_frame, rate)
        self.progress(f"{label} ({count}{field}): {int(seconds)} {unit}")

    def frame_label(self, frame: int, rate: Fraction) -> str:
        if self.style.frames_display:
            return str(frame)
        return format_timecode(frame, rate, drop_frame=self.style.drop_frame)

    def _comp_event(self, comp_name: str, event: str) -> None:
        stamp = _timestamp(self.style.german)
        if self.style.non_utf8:
            line = f"{stamp} : {event} \u201c{comp_name}\u201d."
            self.progress(line.encode("cp1252", errors="replace"))
        else:
            self.progress(f"{stamp} : {event} {comp_name}.")


def _timestamp(german: bool) -> str:
    """Format the local time in the shape of the OS locale that aerender follows."""
    now = time.localtime()
    if german:
        return time.strftime("%d.%m.%Y %H:%M:%S", now)
    hour = now.tm_hour % 12 or 12
    suffix = "AM" if now.tm_hour < 12 else "PM"
    clock = f"{hour}:{now.tm_min:02d}:{now.tm_sec:02d} {suffix}"
    return f"{now.tm_mon}/{now.tm_mday}/{now.tm_year} {clock}"
