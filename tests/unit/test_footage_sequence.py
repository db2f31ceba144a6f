"""Fetching image-sequence footage: every frame of a local sequence, one file of a remote one."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

import pytest

from agent.errors import LeaseFailure
from agent.fetch import FetchedFile, Fetcher
from agent.footage_sequence import fetch_sequence, sequence_frames


def make_files(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode())


def fetched(fetcher: Fetcher, source: str, directory: Path, sha256: str = "") -> list[FetchedFile]:
    return asyncio.run(fetch_sequence(fetcher, source, directory, sha256=sha256))


def test_padded_frames_in_number_order(tmp_path: Path) -> None:
    make_files(
        tmp_path, "shot_0010.png", "shot_0002.png", "shot_0001.png", "shot_01.png",
        "shot_0003.jpg", "other_0001.png", "shot_0004.png.bak",
    )  # fmt: skip

    frames = sequence_frames(tmp_path / "shot_0002.png")

    assert [frame.name for frame in frames] == ["shot_0001.png", "shot_0002.png", "shot_0010.png"]


def test_unpadded_frames_match_any_width(tmp_path: Path) -> None:
    make_files(tmp_path, "f1.png", "f2.png", "f10.png", "f01.png")

    frames = sequence_frames(tmp_path / "f1.png")

    assert [frame.name for frame in frames] == ["f1.png", "f2.png", "f10.png"]


def test_name_without_number_is_alone(tmp_path: Path) -> None:
    make_files(tmp_path, "still.png", "still2.png")

    assert sequence_frames(tmp_path / "still.png") == [tmp_path / "still.png"]


def test_local_sequence_copies_every_frame(tmp_path: Path) -> None:
    source = tmp_path / "media" / "frames"
    make_files(source, "f_001.png", "f_002.png", "f_003.png", "notes.txt")
    fetcher = Fetcher([tmp_path / "media"])
    workspace = tmp_path / "lease" / "footage" / "sequence-1"
    sha256 = hashlib.sha256(b"f_001.png").hexdigest()

    files = fetched(fetcher, (source / "f_001.png").as_uri(), workspace, sha256)

    assert [file.path.name for file in files] == ["f_001.png", "f_002.png", "f_003.png"]
    assert sorted(path.name for path in workspace.iterdir()) == [
        "f_001.png",
        "f_002.png",
        "f_003.png",
    ]
    assert (workspace / "f_003.png").read_bytes() == b"f_003.png"
    assert [file.size for file in files] == [9, 9, 9]


def test_frame_outside_roots_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "media"
    make_files(source, "f_001.png")
    make_files(tmp_path / "private", "secret.png")
    (source / "f_002.png").symlink_to(tmp_path / "private" / "secret.png")
    fetcher = Fetcher([source])

    with pytest.raises(LeaseFailure) as caught:
        fetched(fetcher, str(source / "f_001.png"), tmp_path / "lease")

    assert caught.value.code == "fetch_failed"
    assert "f_002.png" in caught.value.message
    assert "outside the allowed file roots" in caught.value.message
    assert not (tmp_path / "lease" / "f_002.png").exists()


def test_wrong_sha256_fails_first_frame(tmp_path: Path) -> None:
    make_files(tmp_path / "media", "f_001.png", "f_002.png")
    fetcher = Fetcher([tmp_path / "media"])

    with pytest.raises(LeaseFailure) as caught:
        fetched(fetcher, str(tmp_path / "media" / "f_001.png"), tmp_path / "lease", "0" * 64)

    assert "sha256" in caught.value.message
    assert not (tmp_path / "lease" / "f_002.png").exists()


def test_remote_sequence_is_one_file(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"one frame").decode()
    fetcher = Fetcher([])

    files = fetched(fetcher, f"data:image/png;base64,{encoded}", tmp_path / "lease")

    assert len(files) == 1
    assert files[0].path.read_bytes() == b"one frame"
