"""Per-lease workspace folders under `<work-dir>/leases/`.

Paths stay short because Windows fails on paths over 260 characters: a workspace is named by
the first 8 characters of its lease id. A successful lease's workspace is removed once the
controller acknowledges its result. A failed lease's workspace is kept for inspection, and
only the newest keep_failed of those are kept.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_KEEP_FAILED = 5
FAILED_MARKER = ".failed"
LEASE_ID_FILE = ".lease_id"
_SHORT = 8


class Workspaces:
    def __init__(self, root: Path, keep_failed: int = DEFAULT_KEEP_FAILED) -> None:
        self.root = root
        self.keep_failed = keep_failed
        root.mkdir(parents=True, exist_ok=True)

    def create(self, lease_id: str) -> Path:
        """Create an empty workspace for lease_id and return its path."""
        for length in (_SHORT, 2 * _SHORT, len(lease_id)):
            path = self.root / lease_id[:length]
            if not path.exists():
                break
        else:
            # Only a workspace left by an earlier run of this very lease can be here.
            shutil.rmtree(path)
        path.mkdir(parents=True)
        (path / LEASE_ID_FILE).write_text(lease_id, encoding="utf-8")
        return path

    def find(self, lease_id: str) -> Path | None:
        for candidate in self.root.iterdir():
            with contextlib.suppress(OSError):
                if (candidate / LEASE_ID_FILE).read_text(encoding="utf-8") == lease_id:
                    return candidate
        return None

    def mark_failed(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            (path / FAILED_MARKER).touch()

    def release(self, lease_id: str) -> None:
        """Remove the workspace of an acknowledged lease unless it failed; prune old failures."""
        path = self.find(lease_id)
        if path is None:
            return
        if (path / FAILED_MARKER).exists():
            logger.info("keeping the workspace %s of failed lease %s", path, lease_id)
            self.prune_failed()
            return
        _remove(path)

    def prune_failed(self) -> None:
        failed = [path for path in self.root.iterdir() if (path / FAILED_MARKER).exists()]
        failed.sort(key=lambda path: (path / FAILED_MARKER).stat().st_mtime, reverse=True)
        for path in failed[self.keep_failed :]:
            _remove(path)

    def clean_at_start(self) -> None:
        """Remove workspaces of earlier runs except the kept failures."""
        for path in self.root.iterdir():
            if path.is_dir() and not (path / FAILED_MARKER).exists():
                logger.info("removing the workspace %s left by an earlier run", path)
                _remove(path)
        self.prune_failed()


def _remove(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except OSError as error:
        logger.warning("cannot remove the workspace %s: %s", path, error)
