"""Counting the frame files of an image-sequence output as a render writes them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agent.output_progress import SequenceFrameCounter, sequence_pattern

# Seconds to wait for the observer to report a file event.
EVENT_WAIT_SECONDS = 10.0


def test_pattern_matches_frames_only() -> None:
    pattern = sequence_pattern(Path("/w/out/result_[#####].png"))
    assert pattern is not None
    assert pattern.match("result_00012.png")
    assert not pattern.match("result_00012.png.tmp")
    assert not pattern.match("result.png")
    assert sequence_pattern(Path("/w/out/result.mp4")) is None


def test_movie_output_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing the \\[#####\\] placeholder"):
        SequenceFrameCounter(tmp_path / "result.mp4", lambda: None)


def test_counter_follows_written_frames(tmp_path: Path) -> None:
    changed = threading.Event()
    counter = SequenceFrameCounter(tmp_path / "out" / "result_[#####].png", changed.set)
    counter.start()
    try:
        (tmp_path / "out" / "result_00000.png").write_bytes(b"frame")
        assert changed.wait(EVENT_WAIT_SECONDS)
        assert counter.frames == 1

        # Empty files and other names are not frames.
        (tmp_path / "out" / "result_00001.png").write_bytes(b"")
        (tmp_path / "out" / "notes.txt").write_bytes(b"x")
        (tmp_path / "out" / "result_00002.png").write_bytes(b"frame")
    finally:
        counter.stop()

    assert counter.frames == 2
