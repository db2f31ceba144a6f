"""Frame rates and the timecode After Effects prints in its log."""

from __future__ import annotations

import logging
from fractions import Fraction

logger = logging.getLogger(__name__)

# NTSC rates are stored as 32-bit floats in .aep files (29.970001...), so they are matched
# with a tolerance and turned back into their exact n*1000/1001 fractions.
_NTSC_BASES = (24, 30, 48, 60, 120)
_NTSC_TOLERANCE = 0.005


def frame_rate_fraction(frame_rate: float) -> Fraction:
    """Return the exact frame rate for a float rate as stored in a project."""
    for base in _NTSC_BASES:
        if abs(frame_rate - base * 1000 / 1001) < _NTSC_TOLERANCE:
            return Fraction(base * 1000, 1001)
    return Fraction(frame_rate).limit_denominator(1000)


def is_drop_frame_rate(rate: Fraction) -> bool:
    """Tell whether drop-frame timecode exists for this rate (29.97 and 59.94 only)."""
    return rate in (Fraction(30000, 1001), Fraction(60000, 1001))


def nominal_rate(rate: Fraction) -> int:
    """Return the whole frames per second that timecode counts (30 for 29.97)."""
    return max(1, round(rate))


def format_timecode(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    """Format a displayed frame number as `H:MM:SS:FF`, or `H;MM;SS;FF` for drop-frame."""
    sign = "-" if frame < 0 else ""
    frame = abs(frame)
    base = nominal_rate(rate)
    drop_frame = drop_frame and is_drop_frame_rate(rate)
    if drop_frame:
        frame = _drop_frame_label(frame, base)
    separator = ";" if drop_frame else ":"
    frames = frame % base
    seconds = frame // base % 60
    minutes = frame // (base * 60) % 60
    hours = frame // (base * 3600)
    return separator.join([f"{sign}{hours}", f"{minutes:02d}", f"{seconds:02d}", f"{frames:02d}"])


def _drop_frame_label(frame: int, base: int) -> int:
    """Turn a frame count into the frame label that drop-frame timecode shows.

    Drop-frame skips the labels 00 and 01 (00 to 03 at 59.94) at the start of every minute
    except each tenth minute (SMPTE 12M).
    """
    dropped = 2 if base == 30 else 4
    frames_per_minute = base * 60 - dropped
    frames_per_ten_minutes = base * 600 - dropped * 9
    tens, remainder = divmod(frame, frames_per_ten_minutes)
    skipped = dropped * 9 * tens
    if remainder > dropped:
        skipped += dropped * ((remainder - dropped) // frames_per_minute)
    return frame + skipped


def format_rate(rate: Fraction, decimal_comma: bool = False) -> str:
    """Format a frame rate with two decimals, as the `Frame Rate:` header shows it."""
    text = f"{float(rate):.2f}"
    return text.replace(".", ",") if decimal_comma else text


def format_elapsed(seconds: float) -> str:
    """Format a duration as aerender's `Total Time Elapsed:` line shows it."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} Seconds"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} Min, {rest} Sec"
