"""The content-addressed artifact store on real files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from controller.artifacts import (
    DOWNLOAD_CHUNK_BYTES,
    ArtifactStore,
    artifact_url,
    parse_artifact_url,
    validate_name,
)
from controller.errors import ArtifactNotFound, ChecksumMismatch, InvalidRequest, OffsetOutOfRange


def upload(store: ArtifactStore, data: bytes, size: int = 0, sha256: str = "") -> str:
    writer = store.begin_upload()
    for start in range(0, len(data), 1000):
        writer.write(data[start : start + 1000], size)
    return writer.finish(size, sha256).sha256


def test_upload_stored_under_sha256(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    data = bytes(range(256)) * 50
    digest = hashlib.sha256(data).hexdigest()
    assert upload(store, data, len(data), digest) == digest
    path = tmp_path / "artifacts" / digest[:2] / digest
    assert path.read_bytes() == data
    assert store.exists(digest)
    assert store.size(digest) == len(data)
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []


def test_sha_mismatch_stores_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch, match="hash to"):
        upload(store, b"rendered frames", sha256=wrong)
    assert not store.exists(hashlib.sha256(b"rendered frames").hexdigest())
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []


def test_size_mismatch_stores_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(ChecksumMismatch, match="5 bytes arrived"):
        upload(store, b"short", size=9)
    with pytest.raises(ChecksumMismatch, match="more than the 3 bytes"):
        upload(store, b"too long", size=3)
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []


def test_download_chunks_from_offset(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    data = b"x" * (DOWNLOAD_CHUNK_BYTES + 10)
    digest = upload(store, data)
    chunks = list(store.read_chunks(digest, 0))
    assert [len(chunk) for chunk in chunks] == [DOWNLOAD_CHUNK_BYTES, 10]
    assert b"".join(store.read_chunks(digest, DOWNLOAD_CHUNK_BYTES + 5)) == b"xxxxx"
    assert list(store.read_chunks(digest, len(data))) == []
    with pytest.raises(OffsetOutOfRange):
        list(store.read_chunks(digest, len(data) + 1))


def test_unknown_or_invalid_sha(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(ArtifactNotFound):
        store.size("a" * 64)
    with pytest.raises(InvalidRequest, match="64 lowercase hex"):
        store.size("../../etc/passwd")
    assert not store.exists("../x")


def test_leftover_partial_uploads_removed(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    writer = store.begin_upload()
    writer.write(b"half")
    ArtifactStore(tmp_path / "artifacts")
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []


def test_artifact_urls() -> None:
    digest = "ab" * 32
    assert parse_artifact_url(artifact_url(digest, "out.mp4")) == digest
    assert parse_artifact_url("https://cdn.example/out.mp4") is None
    assert parse_artifact_url("artifact://short/out.mp4") is None


@pytest.mark.parametrize("name", ["", "..", "a/b.mp4", "a\\b.mp4", "x" * 256])
def test_invalid_names_rejected(name: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_name(name, "header.name")
