"""Watch folders: job files dropped into a folder by other tools are submitted.

Each `*.json` file directly in the folder is read once its size has stopped changing, then
validated like a submitted job. A valid one is submitted and moved to `submitted/`; an invalid
one is moved to `rejected/` with `NAME.error.txt` beside it listing every problem. The name
and sha256 of each file are recorded in `watchfolder.db` in the data dir before the file is
submitted. A file found again after a restart, because the controller stopped before it moved
the file, is then moved without a second submit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from controller.jobspec.models import JobSpec
from controller.jobspec.parse import JobRejected, Problem, resolve_local_sources

logger = logging.getLogger(__name__)

LEDGER_FILE = "watchfolder.db"
SUBMITTED = "submitted"
REJECTED = "rejected"
# Seconds between two size checks of a file that may still be being written.
SETTLE_SECONDS = 0.5

Submit = Callable[[JobSpec, str], str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watched_files (
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    job_id TEXT NOT NULL DEFAULT '',
    recorded_at REAL NOT NULL,
    PRIMARY KEY (name, sha256)
)
"""


class Ledger:
    """The names and sha256 of the files already taken from the watch folder."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def job_id(self, name: str, sha256: str) -> str | None:
        row = self._db.execute(
            "SELECT job_id FROM watched_files WHERE name = ? AND sha256 = ?", (name, sha256)
        ).fetchone()
        return None if row is None else str(row[0])

    def record(self, name: str, sha256: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO watched_files (name, sha256, recorded_at) VALUES (?, ?, ?)",
            (name, sha256, time.time()),
        )

    def set_job(self, name: str, sha256: str, job_id: str) -> None:
        self._db.execute(
            "UPDATE watched_files SET job_id = ? WHERE name = ? AND sha256 = ?",
            (job_id, name, sha256),
        )

    def close(self) -> None:
        self._db.close()


def is_candidate(path: Path, folder: Path) -> bool:
    return (
        path.parent == folder
        and path.suffix.lower() == ".json"
        and not path.name.startswith(".")
        and path.is_file()
    )


def problems_text(error: JobRejected) -> str:
    return "".join(f"{problem.path}: {problem.reason}\n" for problem in error.problems)


class WatchFolder:
    """Submits the job files of one folder; start() scans it and then follows changes."""

    def __init__(
        self,
        folder: Path,
        data_dir: Path,
        validate: Callable[[str], JobSpec],
        submit: Submit,
    ) -> None:
        self.folder = folder.resolve()
        self.validate = validate
        self.submit = submit
        self.ledger = Ledger(data_dir / LEDGER_FILE)
        self._queue: asyncio.Queue[Path] = asyncio.Queue()
        self._observer: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for name in (SUBMITTED, REJECTED):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._observer = Observer()
        self._observer.schedule(_Forwarder(self, loop), str(self.folder), recursive=False)
        self._observer.daemon = True
        self._observer.start()
        # Files dropped while the controller was stopped, after the observer so none is missed.
        for path in sorted(self.folder.iterdir()):
            self._queue.put_nowait(path)
        self._task = asyncio.create_task(self._run(), name="watch-folder")
        logger.info("watching %s for job files", self.folder)

    def enqueue(self, path: Path) -> None:
        self._queue.put_nowait(path)

    async def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            await asyncio.to_thread(self._observer.join, 5)
        if self._task is not None:
            self._task.cancel()
        self.ledger.close()

    async def _run(self) -> None:
        pending: set[Path] = set()
        while True:
            path = await self._queue.get()
            if path in pending or not is_candidate(path, self.folder):
                continue
            pending.add(path)
            try:
                await self._take(path)
            except OSError as error:
                # The file vanished or could not be moved; a later event brings it back.
                logger.error("watch folder: handling %s failed: %s", path.name, error)
            finally:
                pending.discard(path)

    async def _take(self, path: Path) -> None:
        data = await _settled_bytes(path)
        if data is None:
            return
        sha256 = hashlib.sha256(data).hexdigest()
        known = self.ledger.job_id(path.name, sha256)
        if known:
            logger.info("watch folder: %s was submitted before as job %s", path.name, known)
            self._move(path, SUBMITTED)
            return

        try:
            spec = self._parse(path, data)
        except JobRejected as error:
            self._reject(path, problems_text(error))
            return
        self.ledger.record(path.name, sha256)
        job_id = self.submit(spec, f"watch folder {path.name}")
        self.ledger.set_job(path.name, sha256, job_id)
        self._move(path, SUBMITTED)
        logger.info("watch folder: submitted %s as job %s", path.name, job_id)

    def _parse(self, path: Path, data: bytes) -> JobSpec:
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise JobRejected([Problem("$", f"invalid JSON: {error}")]) from None
        if isinstance(obj, dict):
            # Relative local paths in the job resolve against the watch folder.
            obj = resolve_local_sources(obj, self.folder)
        return self.validate(json.dumps(obj))

    def _reject(self, path: Path, problems: str) -> None:
        target = self._move(path, REJECTED)
        error_file = target.with_name(target.name + ".error.txt")
        error_file.write_text(problems, encoding="utf-8")
        logger.info(
            "watch folder: rejected %s (%d problems), see %s",
            path.name,
            problems.count("\n"),
            error_file,
        )

    def _move(self, path: Path, subfolder: str) -> Path:
        target = self.folder / subfolder / path.name
        if target.exists():
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            target = target.with_name(f"{path.stem}.{stamp}-{os.getpid()}{path.suffix}")
        os.replace(path, target)
        return target


async def _settled_bytes(path: Path) -> bytes | None:
    """Return the file's bytes once two size checks SETTLE_SECONDS apart agree."""
    try:
        size = path.stat().st_size
        while True:
            await asyncio.sleep(SETTLE_SECONDS)
            now = path.stat().st_size
            if now == size:
                break
            size = now
        return path.read_bytes()
    except FileNotFoundError:
        return None


class _Forwarder(FileSystemEventHandler):
    """Passes created, modified and moved-in files from watchdog's thread to the loop."""

    def __init__(self, owner: WatchFolder, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
            return
        raw = getattr(event, "dest_path", "") or event.src_path
        path = Path(os.fsdecode(raw))
        self.loop.call_soon_threadsafe(self.owner.enqueue, path)
