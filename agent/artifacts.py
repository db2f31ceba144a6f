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

import grpc

from agent import grpc_status
from agent.backoff import Backoff, BackoffSettings
from agent.errors import LeaseFailure
from protos import artifacts_pb2, artifacts_pb2_grpc, common_pb2

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
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

    async def _stub(self) -> artifacts_pb2_grpc.ArtifactServiceStub:
        return artifacts_pb2_grpc.ArtifactServiceStub(await self._channel())

    async def download(self, sha256: str, destination: Path) -> int:
        """Download the artifact sha256 to destination, resuming after a broken stream.

        Raises LeaseFailure(fetch_failed) when the artifact is missing, its bytes do not hash
        to sha256, or every attempt failed.
        """
        source = f"artifact://{sha256}"
        temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.part")
        backoff = Backoff(self._backoff)
        digest = hashlib.sha256()
        written = 0
        try:
            with temporary.open("wb") as file:
                for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
                    try:
                        stub = await self._stub()
                        request = artifacts_pb2.DownloadRequest(sha256=sha256, offset=written)
                        async for chunk in stub.Download(request):
                            file.write(chunk.data)
                            digest.update(chunk.data)
                            written += len(chunk.data)
                        break
                    except grpc.aio.AioRpcError as error:
                        if not grpc_status.is_retryable(error.code()) or (
                            attempt == DOWNLOAD_ATTEMPTS
                        ):
                            raise _download_failure(source, error) from error
                        logger.warning(
                            "download of %s failed after %d bytes (%s): retrying",
                            source,
                            written,
                            error.code(),
                        )
                        await asyncio.sleep(backoff.next_delay())
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

        async def chunks() -> AsyncIterator[artifacts_pb2.UploadChunk]:
            # The sha256 is computed while the file streams, so the header leaves it empty and
            # the returned ArtifactRef is checked against it instead.
            header = artifacts_pb2.UploadHeader(
                name=name, size=size, job_id=job_id, lease_id=lease_id
            )
            yield artifacts_pb2.UploadChunk(header=header)
            with path.open("rb") as file:
                while data := file.read(CHUNK_SIZE):
                    digest.update(data)
                    yield artifacts_pb2.UploadChunk(data=data)

        stub = await self._stub()
        reference = await stub.Upload(chunks())
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


def _download_failure(source: str, error: grpc.aio.AioRpcError) -> LeaseFailure:
    code = error.code()
    return LeaseFailure(
        "fetch_failed",
        f"cannot fetch {source}: {code.name} {error.details()}",
        retryable=grpc_status.is_retryable(code),
    )
