"""A content-addressed cache of fetched files, so templates are fetched once per agent.

Files are stored as `<root>/<sha256[:2]>/<sha256>` and handed to workspaces as hard links
(copies when the workspace is on another file system). A downloaded URL also gets an index
entry, `<root>/urls/<sha256 of the URL>.json`, holding the sha256 of its bytes and the
server's ETag and Last-Modified, so the next fetch of that URL can ask the server whether the
file changed. When the cache grows past its maximum size, the files used least recently are
removed first. A file counts as used when it is added or handed to a workspace.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * 1024 * MIB
_INDEX = "urls"


@dataclass(frozen=True)
class UrlEntry:
    """The cache's record of one downloaded URL."""

    url: str
    sha256: str
    size: int
    etag: str = ""
    last_modified: str = ""


class FileCache:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def _index_path(self, url: str) -> Path:
        return self.root / _INDEX / (hashlib.sha256(url.encode("utf-8")).hexdigest() + ".json")

    def has(self, sha256: str) -> bool:
        return self._path(sha256.lower()).is_file()

    def copy_to(self, sha256: str, destination: Path) -> bool:
        """Place the cached file of sha256 at destination; return False when it is not cached."""
        source = self._path(sha256.lower())
        if not source.is_file():
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            destination.unlink()
        try:
            _link_or_copy(source, destination)
        except FileNotFoundError:
            # Evicted between the check and the link.
            return False
        # The modification time records the last use, for eviction.
        with contextlib.suppress(FileNotFoundError):
            os.utime(source)
        return True

    def add(self, sha256: str, path: Path) -> None:
        """Store a verified file under its sha256, then evict old files past the maximum size."""
        target = self._path(sha256.lower())
        if target.exists():
            os.utime(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
        _link_or_copy(path, temporary)
        os.replace(temporary, target)
        self.evict(keep=target)

    def url_entry(self, url: str) -> UrlEntry | None:
        """Return the index entry of url when its file is still cached."""
        try:
            data = json.loads(self._index_path(url).read_text(encoding="utf-8"))
            entry = UrlEntry(**data)
        except (OSError, ValueError, TypeError):
            return None
        if entry.url != url or not self.has(entry.sha256):
            return None
        return entry

    def remember_url(self, entry: UrlEntry) -> None:
        path = self._index_path(entry.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps(asdict(entry)), encoding="utf-8")
        os.replace(temporary, path)

    def size(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _entries(self) -> list[tuple[float, int, Path]]:
        entries = []
        for path in self.root.glob("*/*"):
            if path.parent.name == _INDEX or path.name.endswith(".tmp"):
                continue
            with contextlib.suppress(FileNotFoundError):
                status = path.stat()
                entries.append((status.st_mtime, status.st_size, path))
        return entries

    def evict(self, keep: Path | None = None) -> None:
        """Remove the least recently used files until the cache fits its maximum size.

        keep, the file just added, goes last, so a file larger than the whole cache is still
        handed to the lease that fetched it and removed by the next eviction.
        """
        entries = self._entries()
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda entry: (entry[2] == keep, entry[0])):
            if total <= self.max_bytes:
                break
            logger.info(
                "cache is over %d bytes: removing %s (%d bytes)", self.max_bytes, path, size
            )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copyfile(source, destination)
