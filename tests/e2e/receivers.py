"""A webhook receiver on 127.0.0.1 for end-to-end tests: it records every call it gets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each call with the next status of `answers`, then with `then`."""

    answers: list[int] = field(default_factory=list)
    then: int = 200
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, call: Call) -> int:
        with self.lock:
            status = self.answers.pop(0) if self.answers else self.then
            call.answered = status
            self.calls.append(call)
            return status

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.calls)} of {count} webhook calls came")
            time.sleep(0.05)
        return list(self.calls)


@contextmanager
def running_receiver(answers: list[int] | None = None, then: int = 200) -> Iterator[Receiver]:
    receiver = Receiver(answers=list(answers or []), then=then)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            call = Call(self.command, self.path, dict(self.headers.items()), body, 0)
            status = receiver.answer(call)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_PUT = do_GET = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_port}/hooks/render"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
