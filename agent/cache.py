"""A content-addressed cache of fetched files, so templates are fetched once per agent.

Files are stored as `<root>/<sha256[:2]>/<sha256>` and handed to workspaces as hard links
(copies when the workspace is on another file system). When the cache grows past its maximum
size, the files used least recently are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024**3


class FileCache:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def copy_to(self, sha256: str, destination: Path) -> bool:
        """Place the cached file of sha256 at destination; return False when it is not cached."""
        source = self._path(sha256.lower())
        if not source.is_file():
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            destination.unlink()
        _link_or_copy(source, destination)
        # The modification time records the last use, for eviction.
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
        self.evict()

    def evict(self) -> None:
        entries = []
        for path in self.root.glob("*/*"):
            if path.name.endswith(".tmp"):
                continue
            with contextlib.suppress(FileNotFoundError):
                status = path.stat()
                entries.append((status.st_mtime, status.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
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
    except OSError:
        shutil.copyfile(source, destination)
