"""Content-addressed files on disk: <data-dir>/artifacts/<first two hex digits>/<sha256>.

An upload is written to a temporary file under artifacts/tmp while it is hashed, synced, then
renamed to its sha256 path, so a reader never sees a partial file. The names files were uploaded
under are kept in the store, not here. Upload and ArtifactReader may do their file work in
worker threads while the event loop receives or sends the next chunk.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from controller.errors import ArtifactNotFound, ChecksumMismatch, InvalidRequest, OffsetOutOfRange

logger = logging.getLogger(__name__)

ARTIFACT_SCHEME = "artifact://"
# Bytes of file data per DownloadChunk. The message stays 1 MiB below gRPC's default receive
# limit of 4 MiB (grpc.max_receive_message_length), so clients that keep the default can
# download. Larger chunks cost fewer messages, and docs/benchmarks.md has the measured sizes.
DOWNLOAD_CHUNK_BYTES = 3 * 1024 * 1024
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

    def open_reader(self, sha256: str, offset: int) -> ArtifactReader:
        """Open the stored file for reading from offset; close() the reader when done.

        Raises ArtifactNotFound, or OffsetOutOfRange when offset is past the end.
        """
        size = self.size(sha256)
        if not 0 <= offset <= size:
            raise OffsetOutOfRange(f"offset {offset} is outside artifact {sha256} of {size} bytes")
        try:
            file = open(self.path(sha256), "rb")  # noqa: SIM115 - the reader closes it
        except FileNotFoundError:
            raise ArtifactNotFound(sha256) from None
        file.seek(offset)
        return ArtifactReader(file, size)

    def read_chunks(self, sha256: str, offset: int) -> Iterator[bytes]:
        """Yield the file from offset in chunks of DOWNLOAD_CHUNK_BYTES (3 MiB)."""
        reader = self.open_reader(sha256, offset)
        try:
            while chunk := reader.read():
                yield chunk
        finally:
            reader.close()


class ArtifactReader:
    """A stored file open for reading. read() or readinto() may run in a worker thread while
    another thread calls close(): close() waits for it, and a read after close() reads nothing.
    """

    def __init__(self, file: io.BufferedReader, size: int) -> None:
        self._file = file
        self._lock = threading.Lock()
        # The whole file's size, whatever the offset.
        self.size = size

    def read(self, length: int = DOWNLOAD_CHUNK_BYTES) -> bytes:
        """Return the next length bytes, fewer at the end of the file, b"" past it."""
        with self._lock:
            if self._file.closed:
                return b""
            return self._file.read(length)

    def readinto(self, buffer: bytearray) -> int:
        """Fill buffer from the file; return the bytes read, fewer at the end, 0 past it."""
        with self._lock:
            if self._file.closed:
                return 0
            return self._file.readinto(buffer)

    def close(self) -> None:
        with self._lock:
            self._file.close()


class Upload:
    """One upload in progress: write() the bytes, then finish() or abort().

    write() is add_size(), update_hash() and write_data() in turn. A caller may instead call
    add_size() for each chunk in order and run update_hash() and write_data() of one chunk at
    the same time in two threads. It starts a chunk's pair only after the pair of the chunk
    before it has returned. abort() may come from any thread at any time.
    """

    def __init__(self, store: ArtifactStore, temp_path: Path, file: BinaryIO) -> None:
        self._store = store
        self._temp_path = temp_path
        self._file = file
        self._hash = hashlib.sha256()
        # Held by write_data() and abort(), so the file is never closed during a write.
        self._file_lock = threading.Lock()
        self.size = 0

    def write(self, data: bytes | memoryview, expected_size: int = 0) -> None:
        """Append data; with expected_size set, abort and raise ChecksumMismatch past it."""
        self.add_size(len(data), expected_size)
        self.update_hash(data)
        self.write_data(data)

    def add_size(self, length: int, expected_size: int = 0) -> None:
        """Count length more bytes; with expected_size set, abort and raise past it."""
        self.size += length
        if expected_size and self.size > expected_size:
            self.abort()
            raise ChecksumMismatch(
                f"the upload has more than the {expected_size} bytes its header announced; "
                "nothing was stored, upload again"
            )

    def update_hash(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def write_data(self, data: bytes | memoryview) -> None:
        """Append data to the temporary file; after abort() it does nothing."""
        with self._file_lock:
            if not self._file.closed:
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

        target = self._store.path(sha256)
        # An abort() from another thread waits until the file is stored under its sha256.
        with self._file_lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            target.parent.mkdir(exist_ok=True)
            os.replace(self._temp_path, target)
        _sync_directory(target.parent)
        return StoredFile(sha256, self.size)

    def abort(self) -> None:
        """Delete the partial file; calling it again does nothing."""
        with self._file_lock:
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
