"""Fetch templates and assets into a lease's workspace.

Supported sources: `file://` URIs and bare local paths (only inside the configured file roots
when any are configured), `http://` and `https://`, `data:` URIs, and
`artifact://<sha256>/<name>` from the controller's artifact store. Every failure raises
LeaseFailure with code fetch_failed, naming the source and the error. Network errors are
retryable, but a missing file or an HTTP 404 is not.
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
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.cache import FileCache
from agent.errors import LeaseFailure

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
DEFAULT_HTTP_TIMEOUT = 60.0
USER_AGENT = "aefarm-agent"

# Downloads an artifact by sha256 into a file, verifying the hash; returns the bytes written.
ArtifactDownload = Callable[[str, Path], Awaitable[int]]

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# HTTP statuses after which another attempt can succeed.
_RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    size: int
    from_cache: bool = False


def fetch_error(source: str, reason: str, *, retryable: bool) -> LeaseFailure:
    if source.startswith("data:") and len(source) > 60:
        source = source[:60] + "..."
    return LeaseFailure("fetch_failed", f"cannot fetch {source}: {reason}", retryable=retryable)


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


def is_local_path(source: str) -> bool:
    """True for a bare path: /x/t.aep, C:\\x\\t.aep, C:/x/t.aep or \\\\server\\share\\t.aep."""
    return source.startswith(("/", "\\\\")) or bool(_WINDOWS_DRIVE.match(source))


def local_path_of_file_uri(uri: str) -> Path:
    parts = urllib.parse.urlsplit(uri)
    host = parts.netloc
    if host not in ("", "localhost"):
        if os.name != "nt":
            raise fetch_error(uri, f"file URIs with a host ({host}) need Windows", retryable=False)
        return Path(f"\\\\{host}" + urllib.request.url2pathname(parts.path))
    return Path(urllib.request.url2pathname(parts.path))


class Fetcher:
    """Fetches sources into workspaces. One fetcher serves every lease of an agent."""

    def __init__(
        self,
        file_roots: Sequence[Path],
        download_artifact: ArtifactDownload | None = None,
        *,
        cache: FileCache | None = None,
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
    ) -> None:
        self.file_roots = tuple(Path(root).resolve() for root in file_roots)
        self.download_artifact = download_artifact
        self.cache = cache
        self.http_timeout = http_timeout
        if not self.file_roots:
            logger.warning(
                "no --file-root given: file:// sources may read any file this agent can read"
            )

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
        if parts.scheme == "artifact":
            sha256 = sha256 or parts.netloc
        if sha256 and not _SHA256.match(sha256):
            raise fetch_error(
                source, f"expected sha256 {sha256!r} is not 64 hex digits", retryable=False
            )
        if sha256 and self.cache is not None and self.cache.copy_to(sha256, destination):
            logger.info("fetched %s from the cache as %s", source, destination)
            return FetchedFile(destination, destination.stat().st_size, from_cache=True)

        fetched = await self._fetch_uncached(source, parts, destination)
        if sha256:
            # The artifact download checks its own hash while it streams.
            if parts.scheme != "artifact":
                await self._verify(source, destination, sha256, retryable=parts.scheme != "file")
            if self.cache is not None:
                await asyncio.to_thread(self.cache.add, sha256, destination)
        logger.info("fetched %s as %s (%d bytes)", source, destination, fetched.size)
        return fetched

    async def _fetch_uncached(
        self, source: str, parts: urllib.parse.SplitResult, destination: Path
    ) -> FetchedFile:
        if is_local_path(source):
            return await self._copy_local(source, Path(source), destination)
        if parts.scheme == "file":
            return await self._copy_local(source, local_path_of_file_uri(source), destination)
        if parts.scheme in ("http", "https"):
            return await self._download_http(source, destination)
        if parts.scheme == "data":
            return _write_data_uri(source, destination)
        if parts.scheme == "artifact":
            return await self._download_artifact(source, parts.netloc, destination)
        raise fetch_error(
            source,
            f"unsupported scheme {parts.scheme!r}; use file://, http(s)://, data: or artifact://",
            retryable=False,
        )

    def _check_root(self, source: str, path: Path) -> Path:
        resolved = path.resolve()
        if self.file_roots and not any(resolved.is_relative_to(root) for root in self.file_roots):
            roots = ", ".join(str(root) for root in self.file_roots)
            raise fetch_error(
                source,
                f"{resolved} is outside the allowed file roots ({roots}); add a --file-root "
                f"that contains it",
                retryable=False,
            )
        return resolved

    async def _copy_local(self, source: str, path: Path, destination: Path) -> FetchedFile:
        resolved = self._check_root(source, path)
        if not resolved.is_file():
            raise fetch_error(source, f"file {resolved} does not exist", retryable=False)
        try:
            await asyncio.to_thread(_copy_atomically, resolved, destination)
        except OSError as error:
            raise fetch_error(source, f"copy failed: {error}", retryable=True) from error
        return FetchedFile(destination, destination.stat().st_size)

    async def _download_http(self, source: str, destination: Path) -> FetchedFile:
        stop = threading.Event()
        try:
            size = await asyncio.to_thread(
                _http_download, source, destination, self.http_timeout, stop
            )
        finally:
            # A cancelled fetch leaves the thread running until its next chunk; this ends it.
            stop.set()
        return FetchedFile(destination, size)

    async def _download_artifact(self, source: str, sha256: str, destination: Path) -> FetchedFile:
        if self.download_artifact is None:
            raise fetch_error(source, "no controller connection for artifact://", retryable=True)
        size = await self.download_artifact(sha256, destination)
        return FetchedFile(destination, size)

    async def _verify(self, source: str, path: Path, sha256: str, *, retryable: bool) -> None:
        actual = await asyncio.to_thread(file_sha256, path)
        if actual != sha256.lower():
            raise fetch_error(
                source, f"sha256 is {actual}, expected {sha256.lower()}", retryable=retryable
            )


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


def _http_download(url: str, destination: Path, timeout: float, stop: threading.Event) -> int:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    temporary = _temporary_path(destination)
    size = 0
    try:
        with (
            urllib.request.urlopen(request, timeout=timeout) as response,
            temporary.open("wb") as file,
        ):
            while chunk := response.read(CHUNK_SIZE):
                if stop.is_set():
                    raise fetch_error(url, "the fetch was stopped", retryable=True)
                file.write(chunk)
                size += len(chunk)
        os.replace(temporary, destination)
    except urllib.error.HTTPError as error:
        raise fetch_error(
            url, f"HTTP {error.code} {error.reason}", retryable=error.code in _RETRYABLE_HTTP
        ) from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise fetch_error(url, f"network error: {reason}", retryable=True) from error
    except OSError as error:
        raise fetch_error(url, f"cannot write {destination}: {error}", retryable=True) from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return size


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
