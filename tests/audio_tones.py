"""Make sine tones and measure the audio of rendered files, with ffmpeg and plain Python.

A tone's frequency is estimated from the zero crossings of the decoded 16-bit mono samples:
a sine crosses zero twice per cycle. This module contains no tests.
"""

from __future__ import annotations

import array
import math
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SAMPLE_RATE = 48000
RUN_TIMEOUT_SECONDS = 60


def write_tone(path: Path, frequency: float, seconds: float, sample_rate: int = 44100) -> Path:
    """Write a mono WAV file with a sine of frequency Hz."""
    source = f"sine=frequency={frequency}:sample_rate={sample_rate}:duration={seconds}"
    command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"]
    command += ["-i", source, "-c:a", "pcm_s16le", str(path)]
    subprocess.run(command, check=True, timeout=RUN_TIMEOUT_SECONDS)
    return path


def has_audio_stream(path: Path) -> bool:
    """Tell whether ffmpeg lists an audio stream in path."""
    listed = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    return any(
        line.strip().startswith("Stream #") and ": Audio: " in line
        for line in listed.stderr.splitlines()
    )


def decode_samples(path: Path, start: float = 0.0, seconds: float | None = None) -> list[int]:
    """Decode the first audio stream of path to 48 kHz mono 16-bit samples."""
    command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path)]
    command += ["-map", "0:a:0", "-af", f"atrim=start={start}" + _end(start, seconds)]
    command += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "-"]
    decoded = subprocess.run(command, capture_output=True, timeout=RUN_TIMEOUT_SECONDS, check=True)
    samples = array.array("h")
    samples.frombytes(decoded.stdout)
    if sys.byteorder == "big":
        samples.byteswap()
    return list(samples)


def _end(start: float, seconds: float | None) -> str:
    return "" if seconds is None else f":end={start + seconds}"


def zero_crossing_frequency(samples: list[int], sample_rate: int = SAMPLE_RATE) -> float:
    """Estimate the frequency in Hz of a tone from how often its samples change sign."""
    if len(samples) < 2:
        return 0.0
    crossings = 0
    previous = samples[0]
    for sample in samples[1:]:
        if (previous < 0 <= sample) or (previous >= 0 > sample):
            crossings += 1
        previous = sample
    return crossings / 2 / (len(samples) / sample_rate)


def rms(samples: list[int]) -> float:
    """Return the root mean square of the samples, in 16-bit units (0 for silence)."""
    if not samples:
        return 0.0
    return math.sqrt(sum(sample * sample for sample in samples) / len(samples))
