"""Header fields of an aerender log and the frame counts they imply.

After each ``Starting composition`` line aerender prints the render settings,
among them ``Start``, ``End`` (inclusive), ``Duration`` (End - Start + one
frame) and ``Frame Rate``. After Effects translates the field names to its UI
language and prints the frame rate with the OS locale's decimal separator.
Times are timecode (``0:00:10:00``, drop-frame ``0;00;10;00``), frame numbers
in projects set to frames display, or feet+frames.
"""

import logging
import re
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# Field names by After Effects UI language.
# NOTE: apart from English and the German Anfang, Ende, Dauer and French Durée,
# these names follow each language's After Effects UI terms and have not been
# checked against real aerender logs in those languages.
_FIELD_LABELS: dict[str, str] = {
    "start": "start",
    "anfang": "start",
    "début": "start",
    "inicio": "start",
    "inizio": "start",
    "開始": "start",
    "end": "end",
    "ende": "end",
    "fin": "end",
    "fine": "end",
    "終了": "end",
    "duration": "duration",
    "dauer": "duration",
    "durée": "duration",
    "duración": "duration",
    "durata": "duration",
    "デュレーション": "duration",
    "frame rate": "frame_rate",
    "framerate": "frame_rate",
    "frame-rate": "frame_rate",
    "bildrate": "frame_rate",
    "fréquence d'images": "frame_rate",
    "cadence": "frame_rate",
    "velocidad de fotogramas": "frame_rate",
    "frecuencia de fotogramas": "frame_rate",
    "frequenza fotogrammi": "frame_rate",
    "フレームレート": "frame_rate",
}

# 35 mm film, the After Effects default for feet+frames display.
FRAMES_PER_FOOT = 16

_HEADER = re.compile(r"^(?P<label>[^\d\s:：][^:：]{0,40}?)\s*[:：]\s*(?P<value>\S.*?)\s*$")
_TIMECODE = re.compile(r"^(\d+)[:;](\d{1,2})[:;](\d{1,2})[:;.](\d+)$")
_FEET_FRAMES = re.compile(r"^(\d+)\+(\d+)$")
_FRAME_COUNT = re.compile(r"^\d+$")
_FRAME_RATE = re.compile(r"^(\d+(?:[.,]\d+)?)(?!\d)")
# A value like "30.00 (comp)" under a label of an unknown language.
_FRAME_RATE_UNLABELLED = re.compile(r"^\d{1,3}[.,]\d{2,3}\s*\([^)]+\)$")


def _normalize_label(label: str) -> str:
    label = label.replace("’", "'").replace("`", "'")
    return " ".join(label.split()).casefold()


def parse_frame_rate(value: str) -> float | None:
    """Return frames per second from a value like ``29.97 (comp)`` or ``25,00``."""
    match = _FRAME_RATE.match(value.strip())
    if match is None:
        return None
    rate = float(match.group(1).replace(",", "."))
    return rate if rate > 0 else None


def is_time_value(value: str) -> bool:
    """Return whether a value is a timecode, a frame number or feet+frames."""
    value = value.strip()
    return bool(_TIMECODE.match(value) or _FEET_FRAMES.match(value) or _FRAME_COUNT.match(value))


def time_to_frames(value: str, frame_rate: float | None) -> int | None:
    """Return the frame count a time value stands for, or None when it cannot be known.

    Timecode needs the frame rate. Timecode counts frames at the nominal rate
    (30 for 29.97), and drop-frame timecode (semicolons) skips two labels per
    minute at 29.97 and four at 59.94, except every tenth minute.
    """
    value = value.strip()
    if _FRAME_COUNT.match(value):
        return int(value)

    feet_frames = _FEET_FRAMES.match(value)
    if feet_frames is not None:
        return int(feet_frames.group(1)) * FRAMES_PER_FOOT + int(feet_frames.group(2))

    timecode = _TIMECODE.match(value)
    if timecode is None or frame_rate is None:
        return None
    nominal = int(frame_rate + 0.5)
    if nominal <= 0:
        return None
    hours, minutes, seconds, frames = (int(part) for part in timecode.groups())
    total = ((hours * 60 + minutes) * 60 + seconds) * nominal + frames
    if ";" in value and nominal % 30 == 0:
        dropped_per_minute = nominal // 15
        all_minutes = hours * 60 + minutes
        total -= dropped_per_minute * (all_minutes - all_minutes // 10)
    return total


@dataclass
class RenderTiming:
    """Start, End, Duration and Frame Rate of one composition's render, as printed."""

    start: str | None = None
    end: str | None = None
    duration: str | None = None
    frame_rate: float | None = None
    # Time values under labels of an unknown language, in the order printed.
    unlabelled_times: list[str] = field(default_factory=list)

    def has_values(self) -> bool:
        return any((self.start, self.end, self.duration, self.frame_rate, self.unlabelled_times))

    def frames_total(self) -> int | None:
        """Return the frames this render covers, or None when the header does not tell."""
        if self.duration is not None:
            duration = time_to_frames(self.duration, self.frame_rate)
            if duration is not None and duration > 0:
                return duration

        if self.start is not None and self.end is not None:
            start = time_to_frames(self.start, self.frame_rate)
            end = time_to_frames(self.end, self.frame_rate)
            if start is not None and end is not None and end >= start:
                return end - start + 1

        # Start, End and Duration are the only time fields of the header, in that
        # order, so the third unlabelled time is the duration.
        if self.start is None and self.end is None and len(self.unlabelled_times) >= 3:
            duration = time_to_frames(self.unlabelled_times[2], self.frame_rate)
            if duration is not None and duration > 0:
                return duration
        return None

    def read_header(self, text: str) -> bool:
        """Store a Start, End, Duration or Frame Rate line. Return whether it was one."""
        match = _HEADER.match(text)
        if match is None:
            return False
        value = match.group("value")
        field_name = _FIELD_LABELS.get(_normalize_label(match.group("label")))

        if field_name == "frame_rate":
            rate = parse_frame_rate(value)
            if rate is None:
                return False
            self.frame_rate = rate
            return True
        if field_name is not None:
            if not is_time_value(value):
                return False
            setattr(self, field_name, value.strip())
            return True

        if _TIMECODE.match(value):
            self.unlabelled_times.append(value)
            return True
        if self.frame_rate is None and _FRAME_RATE_UNLABELLED.match(value):
            self.frame_rate = parse_frame_rate(value)
            return True
        # Other header lines (Quality, Resolution, Output To, ...) are not timing.
        return False


def is_known_header(text: str) -> bool:
    """Return whether a line is a timing field of a known language (used to pick a code page)."""
    match = _HEADER.match(text.strip())
    return match is not None and _normalize_label(match.group("label")) in _FIELD_LABELS
