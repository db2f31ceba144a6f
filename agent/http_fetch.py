"""Stream one http(s) URL into a file, with timeouts, retries, resume and conditional requests.

- The connect timeout bounds opening the connection; the read timeout bounds each wait for
  bytes, so a slow but moving download never times out.
- Network errors, truncated bodies and HTTP 408, 425, 429, 500, 502, 503 and 504 are retried
  with exponential backoff; other 4xx and 5xx responses fail at once.
- After a broken transfer the next attempt asks for the rest with `Range` (and `If-Range`, so
  a file that changed meanwhile is sent whole). A server that responds with 200 instead of
  206 sends the whole file again.
- Given the ETag or Last-Modified of a cached copy, the first request is conditional; a 304
  means the cached copy is current.
- A body shorter than its Content-Length, or an empty body, never becomes a file.
"""

from __future__ import annotations

import http.client
import logging
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import LeaseFailure

logger = logging.getLogger(__name__)

USER_AGENT = "aefarm-agent"
CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 5
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    attempts: int = 4
    # Seconds before the second attempt; doubled for each later one, up to backoff_maximum.
    backoff_initial: float = 0.5
    backoff_maximum: float = 8.0


@dataclass(frozen=True)
class Validators:
    """The ETag and Last-Modified of a cached copy, for a conditional request."""

    etag: str = ""
    last_modified: str = ""


@dataclass(frozen=True)
class HttpOutcome:
    size: int
    not_modified: bool = False
    etag: str = ""
    last_modified: str = ""


def fetch_error(source: str, reason: str, *, retryable: bool) -> LeaseFailure:
    return LeaseFailure("fetch_failed", f"cannot fetch {source}: {reason}", retryable=retryable)


class _Retry(Exception):
    """A failure after which another attempt can succeed."""


class _Transfer:
    """The state of one download across its attempts."""

    def __init__(self, url: str, temporary: Path, validators: Validators | None) -> None:
        self.url = url
        self.temporary = temporary
        self.validators = validators
        self.written = 0
        # Validators of the partial body, sent as If-Range when resuming.
        self.etag = ""
        self.last_modified = ""

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if self.written:
            headers["Range"] = f"bytes={self.written}-"
            if self.etag or self.last_modified:
                headers["If-Range"] = self.etag or self.last_modified
        elif self.validators is not None:
            if self.validators.etag:
                headers["If-None-Match"] = self.validators.etag
            if self.validators.last_modified:
                headers["If-Modified-Since"] = self.validators.last_modified
        return headers


def download(
    url: str,
    temporary: Path,
    settings: HttpSettings,
    stop: threading.Event,
    validators: Validators | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpOutcome:
    """Download url into temporary (created or replaced); see the module text for the rules.

    Raises LeaseFailure(fetch_failed) naming the URL and the last status or error.
    """
    transfer = _Transfer(url, temporary, validators)
    delay = settings.backoff_initial
    for attempt in range(1, settings.attempts + 1):
        try:
            return _attempt(transfer, settings, stop)
        except _Retry as error:
            reason = str(error)
        except (OSError, http.client.HTTPException) as error:
            reason = f"network error: {type(error).__name__}: {error}".rstrip(": ")
        if stop.is_set():
            raise fetch_error(url, "the fetch was stopped", retryable=True)
        if attempt == settings.attempts:
            raise fetch_error(url, f"{reason} (after {attempt} attempts)", retryable=True)
        logger.warning(
            "fetch of %s failed on attempt %d of %d (%s): retrying in %.1f s",
            url,
            attempt,
            settings.attempts,
            reason,
            delay,
        )
        sleep(delay)
        delay = min(delay * 2, settings.backoff_maximum)
    raise AssertionError("unreachable")


def _attempt(transfer: _Transfer, settings: HttpSettings, stop: threading.Event) -> HttpOutcome:
    connection, response = _open(transfer.url, transfer.headers(), settings)
    try:
        status = response.status
        if status == 304 and transfer.validators is not None and not transfer.written:
            return HttpOutcome(
                0,
                not_modified=True,
                etag=transfer.validators.etag,
                last_modified=transfer.validators.last_modified,
            )
        if status in RETRYABLE_STATUSES:
            raise _Retry(f"HTTP {status} {response.reason}")
        if status == 206 and transfer.written:
            _check_resume(transfer, response.getheader("Content-Range", ""))
            mode = "ab"
        elif status == 200:
            transfer.written = 0
            transfer.etag = response.getheader("ETag", "")
            transfer.last_modified = response.getheader("Last-Modified", "")
            mode = "wb"
        else:
            raise fetch_error(transfer.url, f"HTTP {status} {response.reason}", retryable=False)
        length = response.getheader("Content-Length")
        expected = transfer.written + int(length) if length and length.isdigit() else None
        _stream(transfer, response, mode, stop)
    finally:
        connection.close()
    if expected is not None and transfer.written < expected:
        raise _Retry(f"truncated body: got {transfer.written} of {expected} bytes")
    if transfer.written == 0:
        raise fetch_error(transfer.url, "the server sent an empty body (0 bytes)", retryable=False)
    return HttpOutcome(transfer.written, etag=transfer.etag, last_modified=transfer.last_modified)


def _check_resume(transfer: _Transfer, content_range: str) -> None:
    match = _CONTENT_RANGE.match(content_range.strip())
    if match is None or int(match.group(1)) != transfer.written:
        # The server sent some other part: start again from the beginning.
        transfer.written = 0
        raise _Retry(f"the server responded to a resume with Content-Range {content_range!r}")


def _stream(
    transfer: _Transfer, response: http.client.HTTPResponse, mode: str, stop: threading.Event
) -> None:
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with transfer.temporary.open(mode) as file:
        while True:
            if stop.is_set():
                raise fetch_error(transfer.url, "the fetch was stopped", retryable=True)
            try:
                count = response.readinto(buffer)
            except http.client.IncompleteRead:
                # The server closed the connection before Content-Length bytes.
                return
            if not count:
                return
            file.write(view[:count])
            transfer.written += count


def _open(
    url: str, headers: dict[str, str], settings: HttpSettings
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        connection = _connection(parts, settings)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            connection.request("GET", path, headers=headers)
            # The connect timeout covered opening the socket; now each read may take longer.
            if connection.sock is not None:
                connection.sock.settimeout(settings.read_timeout)
            response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        location = response.getheader("Location")
        if response.status in _REDIRECTS and location:
            connection.close()
            url = urllib.parse.urljoin(url, location)
            continue
        return connection, response
    raise _Retry(f"more than {MAX_REDIRECTS} redirects")


def _connection(
    parts: urllib.parse.SplitResult, settings: HttpSettings
) -> http.client.HTTPConnection:
    host = parts.hostname or ""
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            host,
            parts.port,
            timeout=settings.connect_timeout,
            context=ssl.create_default_context(),
        )
    return http.client.HTTPConnection(host, parts.port, timeout=settings.connect_timeout)
