"""Fetch templates and assets into a lease's workspace.

Sources:
- `file://` URIs and bare local paths (POSIX, `C:\\...`, `\\\\server\\share\\...`), after the
  agent's path mapping rules, and only inside the agent's file roots. An agent without file
  roots rejects every local file.
- `http://` and `https://`, streamed with retries, resume and conditional requests
  (agent/http_fetch.py).
- `data:` URIs, `artifact://<sha256>/<name>` from the controller's artifact store, and
  `s3://bucket/key` when boto3 is installed (agent/s3.py).

Remote files (http, https, s3, artifact) go through the content-addressed cache. Two leases
that need the same file at once share one download. Every failure raises LeaseFailure with
code fetch_failed, naming the source and the error; a failed or unverified download leaves
nothing in the cache.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import mimetypes
import os
import re
import shutil
import threading
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent import http_fetch, s3
from agent.cache import FileCache, UrlEntry
from agent.errors import LeaseFailure
from agent.http_fetch import HttpSettings, Validators
from agent.pathmap import PathMapper, is_local_path, path_of_file_uri

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024

# Downloads an artifact by sha256 into a file, verifying the hash; returns the bytes written.
ArtifactDownload = Callable[[str, Path], Awaitable[int]]

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_REMOTE = frozenset({"http", "https", "s3", "artifact"})

__all__ = ["FetchedFile", "Fetcher", "file_name_for", "is_local_path", "safe_file_name"]


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    size: int
    from_cache: bool = False


def fetch_error(source: str, reason: str, *, retryable: bool) -> LeaseFailure:
    if source.startswith("data:") and len(source) > 60:
        source = source[:60] + "..."
    return http_fetch.fetch_error(source, reason, retryable=retryable)


def safe_file_name(name: str, fallback: str = "download") -> str:
    """Return name without folders, control characters or a leading dot-only form."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch not in '<>:"|?*').strip()
    if name in ("", ".", ".."):
        return fallback
    return name


def file_name_for(source: str) -> str:
    """Return the workspace file name of source: its last path segment, percent-decoded.

    The query string and fragment of a URL never become part of the name.
    """
    if is_local_path(source):
        return safe_file_name(source)
    parts = urllib.parse.urlsplit(source)
    if parts.scheme == "data":
        media_type = parts.path.split(",", 1)[0].split(";", 1)[0] or "text/plain"
        return "data" + (mimetypes.guess_extension(media_type) or ".bin")
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return safe_file_name(urllib.parse.unquote(segment))


class Fetcher:
    """Fetches sources into workspaces. One fetcher serves every lease of an agent."""

    def __init__(
        self,
        file_roots: Sequence[Path],
        download_artifact: ArtifactDownload | None = None,
        *,
        cache: FileCache | None = None,
        http: HttpSettings | None = None,
        path_map: PathMapper | None = None,
    ) -> None:
        self.file_roots = tuple(Path(root).resolve() for root in file_roots)
        self.download_artifact = download_artifact
        self.cache = cache
        self.http = http or HttpSettings()
        self.path_map = path_map or PathMapper()
        # Downloads under way, by sha256 or URL; the result is the sha256 of the cached file.
        self._flights: dict[str, asyncio.Future[str | None]] = {}
        if not self.file_roots:
            logger.warning("no --file-root given: file:// sources and local paths are rejected")

    async def fetch(
        self, source: str, directory: Path, *, name: str = "", sha256: str = ""
    ) -> FetchedFile:
        """Fetch source into directory under name (default: the name taken from source).

        When sha256 is given, the fetched bytes must have that hash.
        """
        file_name = safe_file_name(name) if name else file_name_for(source)
        destination = directory / file_name
        directory.mkdir(parents=True, exist_ok=True)
        parts = urllib.parse.urlsplit(source)
        scheme = "" if is_local_path(source) else parts.scheme.lower()
        if scheme == "artifact":
            sha256 = sha256 or parts.netloc
        if sha256 and not _SHA256.match(sha256):
            raise fetch_error(
                source, f"expected sha256 {sha256!r} is not 64 hex digits", retryable=False
            )
        sha256 = sha256.lower()
        if scheme in _REMOTE:
            fetched = await self._fetch_remote(source, scheme, destination, sha256)
        else:
            fetched = await self._fetch_here(source, scheme, destination)
            if sha256:
                await _verify(source, destination, sha256, retryable=False)
        logger.info(
            "fetched %s as %s (%d bytes%s)",
            source,
            destination,
            fetched.size,
            ", from the cache" if fetched.from_cache else "",
        )
        return fetched

    async def _fetch_here(self, source: str, scheme: str, destination: Path) -> FetchedFile:
        if scheme == "":
            return await self._copy_local(source, source, destination)
        if scheme == "file":
            return await self._copy_local(source, path_of_file_uri(source), destination)
        if scheme == "data":
            return _write_data_uri(source, destination)
        raise fetch_error(
            source,
            f"unsupported scheme {scheme!r}; use file://, http(s)://, data:, s3:// or artifact://",
            retryable=False,
        )

    def local_path(self, source: str, path: str) -> Path:
        """Map path by the path mapping rules and check it against the file roots."""
        try:
            local = self.path_map.local_path(path)
        except ValueError as error:
            raise fetch_error(source, str(error), retryable=False) from error
        resolved = local.resolve()
        if not self.file_roots:
            raise fetch_error(
                source,
                f"{resolved} is a local file and this agent has no file roots; start the agent "
                "with --file-root DIR naming a folder that contains it",
                retryable=False,
            )
        if not any(resolved.is_relative_to(root) for root in self.file_roots):
            roots = ", ".join(str(root) for root in self.file_roots)
            raise fetch_error(
                source,
                f"{resolved} is outside the allowed file roots ({roots}); add a --file-root "
                f"that contains it",
                retryable=False,
            )
        return resolved

    async def _copy_local(self, source: str, path: str, destination: Path) -> FetchedFile:
        resolved = self.local_path(source, path)
        if not resolved.is_file():
            raise fetch_error(source, f"file {resolved} does not exist", retryable=False)
        try:
            await asyncio.to_thread(_copy_atomically, resolved, destination)
        except OSError as error:
            raise fetch_error(source, f"copy failed: {error}", retryable=True) from error
        return FetchedFile(destination, destination.stat().st_size)

    async def _fetch_remote(
        self, source: str, scheme: str, destination: Path, sha256: str
    ) -> FetchedFile:
        cache = self.cache
        if cache is None:
            fetched, _ = await self._download(source, scheme, destination, sha256)
            return fetched
        key = sha256 or source
        while True:
            hit = bool(sha256) and await asyncio.to_thread(cache.copy_to, sha256, destination)
            if hit:
                return FetchedFile(destination, destination.stat().st_size, from_cache=True)
            flight = self._flights.get(key)
            if flight is None:
                break
            # Another lease is downloading this file: wait for it and take the cached copy.
            shared = await asyncio.shield(flight)
            hit = shared is not None and await asyncio.to_thread(cache.copy_to, shared, destination)
            if hit:
                return FetchedFile(destination, destination.stat().st_size, from_cache=True)
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            fetched, cached = await self._download(source, scheme, destination, sha256)
        except LeaseFailure as failure:
            flight.set_exception(failure)
            # Waiters see the failure; mark it retrieved for a flight nobody waited for.
            flight.exception()
            raise
        except BaseException:
            flight.set_result(None)
            raise
        else:
            flight.set_result(cached)
        finally:
            del self._flights[key]
        return fetched

    async def _download(
        self, source: str, scheme: str, destination: Path, sha256: str
    ) -> tuple[FetchedFile, str]:
        """Download into destination and add it to the cache; return it and its sha256."""
        temporary = _temporary_path(destination)
        outcome: http_fetch.HttpOutcome | None = None
        try:
            if scheme in ("http", "https"):
                entry = self._http_entry(source, sha256)
                outcome = await self._download_http(source, temporary, entry)
                if outcome.not_modified and entry is not None:
                    if self.cache is not None and await asyncio.to_thread(
                        self.cache.copy_to, entry.sha256, destination
                    ):
                        size = destination.stat().st_size
                        return FetchedFile(destination, size, from_cache=True), entry.sha256
                    # Evicted meanwhile: fetch it whole.
                    outcome = await self._download_http(source, temporary, None)
            elif scheme == "s3":
                await asyncio.to_thread(s3.download_s3, source, temporary)
            else:
                await self._download_artifact(source, sha256, temporary)
            actual = await asyncio.to_thread(file_sha256, temporary)
            if sha256 and actual != sha256:
                raise fetch_error(source, f"sha256 is {actual}, expected {sha256}", retryable=True)
            os.replace(temporary, destination)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        size = destination.stat().st_size
        if self.cache is not None:
            await asyncio.to_thread(self.cache.add, actual, destination)
            if outcome is not None:
                entry = UrlEntry(source, actual, size, outcome.etag, outcome.last_modified)
                await asyncio.to_thread(self.cache.remember_url, entry)
        return FetchedFile(destination, size), actual

    def _http_entry(self, source: str, sha256: str) -> UrlEntry | None:
        entry = self.cache.url_entry(source) if self.cache is not None else None
        if entry is None or (sha256 and entry.sha256 != sha256):
            return None
        return entry

    async def _download_http(
        self, source: str, temporary: Path, entry: UrlEntry | None
    ) -> http_fetch.HttpOutcome:
        """Download source into temporary, conditionally when entry has validators."""
        stop = threading.Event()
        validators = None
        if entry is not None and (entry.etag or entry.last_modified):
            validators = Validators(entry.etag, entry.last_modified)
        try:
            return await asyncio.to_thread(
                http_fetch.download, source, temporary, self.http, stop, validators
            )
        finally:
            # A cancelled fetch leaves the thread running until its next chunk; this ends it.
            stop.set()

    async def _download_artifact(self, source: str, sha256: str, destination: Path) -> None:
        if self.download_artifact is None:
            raise fetch_error(source, "no controller connection for artifact://", retryable=True)
        await self.download_artifact(sha256, destination)


async def _verify(source: str, path: Path, sha256: str, *, retryable: bool) -> None:
    actual = await asyncio.to_thread(file_sha256, path)
    if actual != sha256:
        raise fetch_error(source, f"sha256 is {actual}, expected {sha256}", retryable=retryable)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _temporary_path(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.part")


def _copy_atomically(source: Path, destination: Path) -> None:
    temporary = _temporary_path(destination)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _write_data_uri(uri: str, destination: Path) -> FetchedFile:
    header, separator, payload = uri[len("data:") :].partition(",")
    if not separator:
        raise fetch_error(uri, "data URI has no comma before its data", retryable=False)
    if header.endswith(";base64"):
        try:
            data = base64.b64decode(urllib.parse.unquote(payload), validate=True)
        except (binascii.Error, ValueError) as error:
            raise fetch_error(uri, f"invalid base64 data: {error}", retryable=False) from error
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    temporary = _temporary_path(destination)
    temporary.write_bytes(data)
    os.replace(temporary, destination)
    return FetchedFile(destination, len(data))
