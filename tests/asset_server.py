"""A threaded HTTP server on 127.0.0.1 that serves test assets the ways real servers do.

Each route can answer with ETag and Last-Modified, honour `Range` and conditional requests,
fail a number of times before it succeeds, send a body shorter than its Content-Length and
close the connection, or hold its body until the test opens a gate. Every request is recorded.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Route:
    body: bytes
    etag: str = ""
    last_modified: str = ""
    ranges: bool = True
    # Statuses answered, one per request, before the route serves its body.
    fail_first: list[int] = field(default_factory=list)
    # How many responses send only the first half of the body and then close the connection.
    truncate_first: int = 0
    # When set, a response waits for this event before it sends its body.
    gate: threading.Event | None = None


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


class AssetServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_for(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.requests if seen.path == path]

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_state: AssetServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server_state.record(Seen(path, dict(self.headers.items())))
        route = self.server_state.routes.get(path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        if route.fail_first:
            self.send_error(route.fail_first.pop(0), "Try Later")
            return
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            self._headers(304, route, None)
            return
        since = self.headers.get("If-Modified-Since")
        if route.last_modified and since == route.last_modified and not route.etag:
            self._headers(304, route, None)
            return
        body, status, first = route.body, 200, 0
        requested = self.headers.get("Range", "")
        if_range = self.headers.get("If-Range")
        if route.ranges and requested.startswith("bytes=") and if_range in (None, route.etag):
            first = int(requested[len("bytes=") :].split("-", 1)[0])
            status = 206
        self._headers(status, route, len(body) - first, first, len(body))
        if route.gate is not None:
            route.gate.wait()
        part = body[first:]
        if route.truncate_first:
            route.truncate_first -= 1
            part = part[: len(part) // 2]
            self.close_connection = True
        self.wfile.write(part)

    def _headers(
        self, status: int, route: Route, length: int | None, first: int = 0, total: int = 0
    ) -> None:
        self.send_response(status)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        if route.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{total - 1}/{total}")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def asset_server() -> Iterator[AssetServer]:
    state = AssetServer()
    handler = type("Handler", (_Handler,), {"server_state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        for route in state.routes.values():
            if route.gate is not None:
                route.gate.set()
        server.shutdown()
        server.server_close()
