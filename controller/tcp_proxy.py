"""A TCP proxy on 127.0.0.1 that a test or the soak script cuts and resumes, to break one link.

The proxy runs an asyncio loop in a thread of its own, so synchronous tests drive it. While it
is cut, open connections are aborted and new ones are closed as soon as they are accepted, as
a broken network looks to a gRPC client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

logger = logging.getLogger(__name__)

CHUNK_BYTES = 65536


class TcpProxy:
    """Forwards 127.0.0.1:port to target ("HOST:PORT") until cut() and after resume()."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target_host = host
        self.target_port = int(port)
        self.port = 0
        self.connections_accepted = 0
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)
        return self

    def cut(self) -> None:
        """Abort every forwarded connection and refuse new ones until resume()."""
        self._call(self._abort_all)

    def resume(self) -> None:
        self._call(self._set_cut, False)

    def close(self) -> None:
        self._call(self._abort_all)
        if self._server is not None:
            self._call(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _call(self, function: object, *args: object) -> None:
        async def run() -> None:
            function(*args)  # type: ignore[operator]

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def _set_cut(self, cut: bool) -> None:
        self._cut = cut

    def _abort_all(self) -> None:
        self._cut = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        self.connections_accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for side in (writer, up_writer):
            self._writers.discard(side)
            side.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(CHUNK_BYTES):
                if self._cut:
                    break
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
