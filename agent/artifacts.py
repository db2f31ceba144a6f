"""Upload outputs to, and download inputs from, the controller's ArtifactService."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

import grpc

from agent import grpc_status
from agent.backoff import Backoff, BackoffSettings
from agent.errors import LeaseFailure
from protos import artifacts_pb2, common_pb2
from protos.artifact_chunks import (
    download_method,
    encode_upload_data,
    encode_upload_header,
    upload_method,
)

logger = logging.getLogger(__name__)

# Bytes per upload chunk from the agent, less than the 3 MiB the CLI sends. Each chunk exists
# about three times at once (the read buffer, the encoded message and gRPC's copy), and the
# agent's memory while it renders matters more than the last fifth of the upload rate.
AGENT_CHUNK_BYTES = 1024 * 1024

UPLOAD_ATTEMPTS = 5
DOWNLOAD_ATTEMPTS = 3

# Returns the channel of the current controller connection, waiting for one if needed.
ChannelProvider = Callable[[], Awaitable[grpc.aio.Channel]]


def artifact_url(sha256: str, name: str) -> str:
    return f"artifact://{sha256}/{urllib.parse.quote(name)}"


class ArtifactClient:
    def __init__(
        self,
        channel: ChannelProvider,
        *,
        backoff: BackoffSettings | None = None,
    ) -> None:
        self._channel = channel
        self._backoff = backoff or BackoffSettings(initial=0.5, maximum=10.0)

    async def download(self, sha256: str, destination: Path) -> int:
        """Download the artifact sha256 to destination, resuming after a broken stream.

        Raises LeaseFailure(fetch_failed) when the artifact is missing, its bytes do not hash
        to sha256, or every attempt failed.
        """
        source = f"artifact://{sha256}"
        temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.part")
        backoff = Backoff(self._backoff)
        digest = hashlib.sha256()
        try:
            with temporary.open("wb") as file:
                sink = _HashedFileSink(file, digest)
                try:
                    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
                        try:
                            download = download_method(await self._channel())
                            request = artifacts_pb2.DownloadRequest(
                                sha256=sha256, offset=sink.received
                            )
                            async for part in download(request):
                                await sink.add(part.data)
                            break
                        except grpc.aio.AioRpcError as error:
                            if not grpc_status.is_retryable(error.code()) or (
                                attempt == DOWNLOAD_ATTEMPTS
                            ):
                                raise _download_failure(source, error) from error
                            logger.warning(
                                "download of %s failed after %d bytes (%s): retrying",
                                source,
                                sink.received,
                                error.code(),
                            )
                            await asyncio.sleep(backoff.next_delay())
                    await sink.flush()
                finally:
                    # The file stays open until a write in a worker thread has returned.
                    await sink.settle()
                written = sink.received
            if digest.hexdigest() != sha256.lower():
                raise LeaseFailure(
                    "fetch_failed",
                    f"cannot fetch {source}: the downloaded bytes hash to {digest.hexdigest()}",
                    retryable=True,
                )
            os.replace(temporary, destination)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        return written

    async def upload(
        self, path: Path, name: str, *, job_id: str, lease_id: str
    ) -> common_pb2.Output:
        """Upload one output file, retrying passing faults; return its Output."""
        backoff = Backoff(self._backoff)
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                return await self._upload_once(path, name, job_id=job_id, lease_id=lease_id)
            except grpc.aio.AioRpcError as error:
                retryable = grpc_status.is_retryable(error.code())
                if not retryable or attempt == UPLOAD_ATTEMPTS:
                    raise LeaseFailure(
                        "upload_failed",
                        f"upload of {name} failed after {attempt} attempts: "
                        f"{error.code().name} {error.details()}",
                        retryable=retryable,
                    ) from error
                logger.warning(
                    "upload of %s failed (%s %s): retrying",
                    name,
                    error.code().name,
                    error.details(),
                )
                await asyncio.sleep(backoff.next_delay())
        raise AssertionError("unreachable")

    async def _upload_once(
        self, path: Path, name: str, *, job_id: str, lease_id: str
    ) -> common_pb2.Output:
        digest = hashlib.sha256()
        size = path.stat().st_size
        # The sha256 is computed while the file streams, so the header leaves it empty and the
        # returned ArtifactRef is checked against it instead.
        header = artifacts_pb2.UploadHeader(name=name, size=size, job_id=job_id, lease_id=lease_id)
        upload = upload_method(await self._channel())
        reference = await upload(_upload_messages(path, header, digest))
        sha256 = digest.hexdigest()
        if reference.sha256 != sha256 or reference.size != size:
            raise LeaseFailure(
                "upload_failed",
                f"the artifact store stored {name} as {reference.size} bytes with sha256 "
                f"{reference.sha256}, but the file has {size} bytes with sha256 {sha256}",
                retryable=True,
            )
        return common_pb2.Output(
            url=reference.url or artifact_url(sha256, name),
            size=size,
            sha256=sha256,
            name=name,
        )


async def _upload_messages(
    path: Path, header: artifacts_pb2.UploadHeader, digest: hashlib._Hash
) -> AsyncIterator[bytes]:
    """Yield the encoded UploadChunks of path, hashing its bytes into digest.

    The next chunk is read and hashed in a worker thread while this one is sent. One buffer
    serves the whole file, because each chunk is copied into its message before the next read.
    """
    yield encode_upload_header(header)
    buffer = bytearray(AGENT_CHUNK_BYTES)
    with path.open("rb") as file:

        def read_next() -> int:
            length = file.readinto(buffer)
            digest.update(memoryview(buffer)[:length])
            return length

        pending = asyncio.ensure_future(asyncio.to_thread(read_next))
        try:
            # shield: a cancelled upload must not mark the read done while it still runs.
            while length := await asyncio.shield(pending):
                message = encode_upload_data(memoryview(buffer)[:length])
                pending = asyncio.ensure_future(asyncio.to_thread(read_next))
                yield message
        finally:
            # The file stays open until a read in a worker thread has returned.
            await asyncio.wait({pending})
            if not pending.cancelled():
                pending.exception()


class _HashedFileSink:
    """Writer of received chunks: each is written to the file and hashed in two worker
    threads while the event loop receives the next, so at most one chunk waits."""

    def __init__(self, file: BinaryIO, digest: hashlib._Hash) -> None:
        self._file = file
        self._digest = digest
        self._pending: asyncio.Future[Any] | None = None
        # Bytes received so far, the offset to resume from.
        self.received = 0

    async def add(self, data: bytes | memoryview) -> None:
        await self.flush()
        self._pending = asyncio.gather(
            asyncio.to_thread(self._file.write, data),
            asyncio.to_thread(self._digest.update, data),
        )
        self.received += len(data)

    async def flush(self) -> None:
        """Wait for the last chunk's write and hash; raise the write's error."""
        if self._pending is not None:
            # shield: a cancelled download must not mark the write done while it still runs.
            await asyncio.shield(self._pending)
            self._pending = None

    async def settle(self) -> None:
        """Wait for the last chunk's write and hash, ignoring their errors."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await asyncio.wait({pending})
            if not pending.cancelled():
                pending.exception()


def _download_failure(source: str, error: grpc.aio.AioRpcError) -> LeaseFailure:
    code = error.code()
    return LeaseFailure(
        "fetch_failed",
        f"cannot fetch {source}: {code.name} {error.details()}",
        retryable=grpc_status.is_retryable(code),
    )
