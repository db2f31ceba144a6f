"""Upload and Download of multi-MiB files through the real controller on 127.0.0.1 port 0.

The clients are the generated stubs, the codec calls of protos.artifact_chunks, the agent's
ArtifactClient and the CLI's template upload, so each side of the codec meets the other.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from agent.artifacts import ArtifactClient
from controller.artifacts import DOWNLOAD_CHUNK_BYTES
from controller.cli import templates
from controller.cli.client import Controller
from controller.server import ControllerConfig, ControllerServer
from protos import artifacts_pb2, artifacts_pb2_grpc
from protos.artifact_chunks import (
    UPLOAD_CHUNK_BYTES,
    download_method,
    encode_upload_data,
    encode_upload_header,
    upload_method,
)

# Upper bound for one call, so a broken controller fails the test instead of hanging.
CALL_TIMEOUT_SECONDS = 30.0
# The generated stubs' chunk: above the 1 MiB that clients sent before, within 16 MiB.
LARGE_CHUNK_BYTES = 4 * 1024 * 1024


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def file_data(size: int) -> bytes:
    return os.urandom(size)


@asynccontextmanager
async def controller(data_dir: Path) -> AsyncIterator[tuple[str, grpc.aio.Channel]]:
    """Yield the address of a real controller and a channel with gRPC's default options."""
    server = ControllerServer(ControllerConfig(data_dir=data_dir, port=0))
    address = await server.start()
    channel = grpc.aio.insecure_channel(address)
    try:
        yield address, channel
    finally:
        await channel.close()
        await server.stop()


def stored_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "artifacts" / sha256[:2] / sha256


def partial_uploads(data_dir: Path) -> list[Path]:
    return list((data_dir / "artifacts" / "tmp").iterdir())


async def upload_messages(
    data: bytes, header: artifacts_pb2.UploadHeader, chunk_bytes: int = UPLOAD_CHUNK_BYTES
) -> AsyncIterator[bytes]:
    yield encode_upload_header(header)
    for start in range(0, len(data), chunk_bytes):
        yield encode_upload_data(data[start : start + chunk_bytes])


def test_upload_in_large_chunks_stored(tmp_path: Path) -> None:
    data = file_data(2 * LARGE_CHUNK_BYTES + 17)
    digest = hashlib.sha256(data).hexdigest()

    async def scenario() -> None:
        async with controller(tmp_path) as (_, channel):
            header = artifacts_pb2.UploadHeader(name="big.mov", size=len(data), sha256=digest)
            chunks = [artifacts_pb2.UploadChunk(header=header)]
            chunks += [
                artifacts_pb2.UploadChunk(data=data[start : start + LARGE_CHUNK_BYTES])
                for start in range(0, len(data), LARGE_CHUNK_BYTES)
            ]
            stub = artifacts_pb2_grpc.ArtifactServiceStub(channel)
            ref = await stub.Upload(iter(chunks), timeout=CALL_TIMEOUT_SECONDS)
            assert (ref.sha256, ref.size) == (digest, len(data))

            again = await upload_method(channel)(
                upload_messages(data, header), timeout=CALL_TIMEOUT_SECONDS
            )
            assert again.url == f"artifact://{digest}/big.mov"

    run(scenario)
    assert stored_path(tmp_path, digest).read_bytes() == data
    assert partial_uploads(tmp_path) == []


def test_download_chunks_fit_default_limit(tmp_path: Path) -> None:
    data = file_data(2 * DOWNLOAD_CHUNK_BYTES + 5)

    async def scenario() -> None:
        async with controller(tmp_path) as (_, channel):
            header = artifacts_pb2.UploadHeader(name="clip.mov", size=len(data))
            ref = await upload_method(channel)(upload_messages(data, header))
            # The channel keeps gRPC's default 4 MiB receive limit.
            stub = artifacts_pb2_grpc.ArtifactServiceStub(channel)
            request = artifacts_pb2.DownloadRequest(sha256=ref.sha256)
            chunks = [chunk async for chunk in stub.Download(request, timeout=CALL_TIMEOUT_SECONDS)]
            assert [len(chunk.data) for chunk in chunks] == [
                DOWNLOAD_CHUNK_BYTES,
                DOWNLOAD_CHUNK_BYTES,
                5,
            ]
            assert [chunk.size for chunk in chunks] == [len(data), 0, 0]
            assert b"".join(chunk.data for chunk in chunks) == data

    run(scenario)


def test_download_from_offset(tmp_path: Path) -> None:
    data = file_data(DOWNLOAD_CHUNK_BYTES + 1000)
    offset = DOWNLOAD_CHUNK_BYTES + 10

    async def scenario() -> None:
        async with controller(tmp_path) as (_, channel):
            header = artifacts_pb2.UploadHeader(name="clip.mov", size=len(data))
            ref = await upload_method(channel)(upload_messages(data, header))
            download = download_method(channel)

            request = artifacts_pb2.DownloadRequest(sha256=ref.sha256, offset=offset)
            parts = [part async for part in download(request, timeout=CALL_TIMEOUT_SECONDS)]
            assert b"".join(bytes(part.data) for part in parts) == data[offset:]
            assert parts[0].size == len(data)

            at_end = artifacts_pb2.DownloadRequest(sha256=ref.sha256, offset=len(data))
            parts = [part async for part in download(at_end, timeout=CALL_TIMEOUT_SECONDS)]
            assert [(bytes(part.data), part.size) for part in parts] == [(b"", len(data))]

            past_end = artifacts_pb2.DownloadRequest(sha256=ref.sha256, offset=len(data) + 1)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                _ = [part async for part in download(past_end, timeout=CALL_TIMEOUT_SECONDS)]
            assert caught.value.code() == grpc.StatusCode.OUT_OF_RANGE

    run(scenario)


def test_corrupt_upload_stores_nothing(tmp_path: Path) -> None:
    data = file_data(2 * UPLOAD_CHUNK_BYTES + 3)
    digest = hashlib.sha256(data).hexdigest()
    corrupted = data[:-1] + bytes([data[-1] ^ 1])

    async def scenario() -> None:
        async with controller(tmp_path) as (_, channel):
            upload = upload_method(channel)
            header = artifacts_pb2.UploadHeader(name="out.mp4", size=len(data), sha256=digest)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await upload(upload_messages(corrupted, header), timeout=CALL_TIMEOUT_SECONDS)
            assert caught.value.code() == grpc.StatusCode.DATA_LOSS
            assert "nothing was stored" in (caught.value.details() or "")

            short_header = artifacts_pb2.UploadHeader(name="out.mp4", size=UPLOAD_CHUNK_BYTES)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await upload(upload_messages(data, short_header), timeout=CALL_TIMEOUT_SECONDS)
            assert caught.value.code() == grpc.StatusCode.DATA_LOSS
            assert "more than the" in (caught.value.details() or "")

    run(scenario)
    assert not stored_path(tmp_path, hashlib.sha256(corrupted).hexdigest()).exists()
    assert not stored_path(tmp_path, digest).exists()
    assert partial_uploads(tmp_path) == []


def test_cancelled_upload_leaves_no_file(tmp_path: Path) -> None:
    data = file_data(UPLOAD_CHUNK_BYTES)

    async def scenario() -> None:
        async with controller(tmp_path) as (_, channel):
            sent = asyncio.Event()

            async def stalled() -> AsyncIterator[bytes]:
                yield encode_upload_header(artifacts_pb2.UploadHeader(name="half.mov"))
                for _ in range(3):
                    yield encode_upload_data(data)
                sent.set()
                await asyncio.Event().wait()

            call = upload_method(channel)(stalled())
            await asyncio.wait_for(sent.wait(), CALL_TIMEOUT_SECONDS)
            # The partial file exists once the controller has taken the chunks.
            await wait_until(lambda: partial_uploads(tmp_path) != [], "a partial upload")
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await wait_until(lambda: partial_uploads(tmp_path) == [], "the partial upload removed")

    run(scenario)
    assert not (tmp_path / "artifacts" / hashlib.sha256(data * 3).hexdigest()[:2]).exists()


async def wait_until(condition: Callable[[], bool], description: str) -> None:
    for _ in range(int(CALL_TIMEOUT_SECONDS / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {description}")


def test_agent_client_round_trip(tmp_path: Path) -> None:
    data = file_data(2 * UPLOAD_CHUNK_BYTES + 99)
    source = tmp_path / "render.mov"
    source.write_bytes(data)

    async def scenario() -> None:
        async with controller(tmp_path / "data") as (_, channel):

            async def current_channel() -> grpc.aio.Channel:
                return channel

            client = ArtifactClient(current_channel)
            output = await client.upload(source, "render.mov", job_id="j-1", lease_id="l-1")
            assert output.sha256 == hashlib.sha256(data).hexdigest()
            assert output.size == len(data)

            target = tmp_path / "fetched" / "render.mov"
            target.parent.mkdir()
            written = await client.download(output.sha256, target)
            assert written == len(data)
            assert target.read_bytes() == data
            assert list(target.parent.iterdir()) == [target]

    run(scenario)


def test_cli_template_upload_in_chunks(tmp_path: Path) -> None:
    data = file_data(UPLOAD_CHUNK_BYTES + 1)
    project = tmp_path / "intro.aep"
    project.write_bytes(data)

    async def scenario() -> None:
        async with controller(tmp_path / "data") as (address, _):

            def upload_with_cli() -> artifacts_pb2.ArtifactRef:
                with Controller(address) as cli:
                    return templates.upload(cli, project)

            # The CLI's channel is synchronous, so it runs beside the controller's event loop.
            ref = await asyncio.to_thread(upload_with_cli)
            assert (ref.name, ref.size) == ("intro.aep", len(data))

    run(scenario)
    assert stored_path(tmp_path / "data", hashlib.sha256(data).hexdigest()).read_bytes() == data
