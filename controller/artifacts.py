"""Content-addressed files on disk: <data-dir>/artifacts/<first two hex digits>/<sha256>.

An upload is written to a temporary file under artifacts/tmp while it is hashed, synced, then
renamed to its sha256 path, so a reader never sees a partial file. The names files were uploaded
under are kept in the store, not here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from controller.errors import ArtifactNotFound, ChecksumMismatch, InvalidRequest, OffsetOutOfRange

logger = logging.getLogger(__name__)

ARTIFACT_SCHEME = "artifact://"
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
MAX_NAME_LENGTH = 255
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int


def artifact_url(sha256: str, name: str) -> str:
    return f"{ARTIFACT_SCHEME}{sha256}/{name}"


def parse_artifact_url(url: str) -> str | None:
    """Return the sha256 of an artifact:// URL, or None for a URL of another scheme or shape."""
    if not url.startswith(ARTIFACT_SCHEME):
        return None
    sha256, _, _ = url.removeprefix(ARTIFACT_SCHEME).partition("/")
    return sha256 if _SHA256.fullmatch(sha256) else None


def validate_sha256(sha256: str, field: str) -> None:
    if not _SHA256.fullmatch(sha256):
        raise InvalidRequest(field, f"{sha256!r} is not a sha256: expected 64 lowercase hex digits")


def validate_name(name: str, field: str) -> None:
    if not name or name in (".", ".."):
        raise InvalidRequest(field, "a file name is required, such as result.mp4")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(field, f"the name is {len(name)} characters; at most 255 are allowed")
    if any(character in name for character in "/\\\0"):
        raise InvalidRequest(field, f"{name!r} must be a plain file name without / \\ or NUL")


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp.iterdir():
            # Partial uploads of a previous run; their clients got no ArtifactRef.
            leftover.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return _SHA256.fullmatch(sha256) is not None and self.path(sha256).is_file()

    def begin_upload(self) -> Upload:
        handle, name = tempfile.mkstemp(dir=self._tmp, prefix="upload-")
        return Upload(self, Path(name), os.fdopen(handle, "wb"))

    def size(self, sha256: str) -> int:
        validate_sha256(sha256, "sha256")
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            raise ArtifactNotFound(sha256) from None

    def read_chunks(self, sha256: str, offset: int) -> Iterator[bytes]:
        """Yield the file from offset in chunks of DOWNLOAD_CHUNK_BYTES (1 MiB)."""
        size = self.size(sha256)
        if not 0 <= offset <= size:
            raise OffsetOutOfRange(f"offset {offset} is outside artifact {sha256} of {size} bytes")
        with open(self.path(sha256), "rb") as file:
            file.seek(offset)
            while chunk := file.read(DOWNLOAD_CHUNK_BYTES):
                yield chunk


class Upload:
    """One upload in progress: write() the bytes, then finish() or abort()."""

    def __init__(self, store: ArtifactStore, temp_path: Path, file: BinaryIO) -> None:
        self._store = store
        self._temp_path = temp_path
        self._file = file
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, expected_size: int = 0) -> None:
        """Append data; with expected_size set, abort and raise ChecksumMismatch past it."""
        self.size += len(data)
        if expected_size and self.size > expected_size:
            self.abort()
            raise ChecksumMismatch(
                f"the upload has more than the {expected_size} bytes its header announced; "
                "nothing was stored, upload again"
            )
        self._hash.update(data)
        self._file.write(data)

    def finish(self, expected_size: int = 0, expected_sha256: str = "") -> StoredFile:
        """Verify size and sha256 when given, then move the file to its sha256 path.

        On a mismatch the file is deleted and ChecksumMismatch is raised.
        """
        sha256 = self._hash.hexdigest()
        problems = []
        if expected_size and self.size != expected_size:
            problems.append(f"{self.size} bytes arrived, the header announced {expected_size}")
        if expected_sha256 and sha256 != expected_sha256:
            problems.append(f"the bytes hash to {sha256}, the header announced {expected_sha256}")
        if problems:
            self.abort()
            raise ChecksumMismatch("; ".join(problems) + "; nothing was stored, upload again")

        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        target = self._store.path(sha256)
        target.parent.mkdir(exist_ok=True)
        os.replace(self._temp_path, target)
        _sync_directory(target.parent)
        return StoredFile(sha256, self.size)

    def abort(self) -> None:
        """Delete the partial file; calling it again does nothing."""
        self._file.close()
        self._temp_path.unlink(missing_ok=True)


def _sync_directory(path: Path) -> None:
    # The rename is durable only once the directory entry is synced; Windows cannot open a
    # directory for that, and NTFS journals the rename itself.
    if os.name != "posix":
        return
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
