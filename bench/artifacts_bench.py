"""Artifact upload and download over gRPC, against a raw loopback TCP copy of the same file.

The raw copy sends the file over one TCP connection on 127.0.0.1 to a thread that writes it to
a file and syncs it, as the artifact store does, but without hashing and without gRPC framing.
The gRPC client sends and receives chunks as the agent does (protos.artifact_chunks, the
agent's channel options, file reads and writes in a worker thread while the next chunk moves),
but does not hash them, and it syncs the downloaded file. The controller's resident memory is
sampled every 20 ms during each transfer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import statistics
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from agent.connection import ChannelSettings
from bench.controller_proc import ControllerProcess
from bench.figures import Section
from protos import artifacts_pb2, artifacts_pb2_grpc
from protos.artifact_chunks import (
    UPLOAD_CHUNK_BYTES,
    download_method,
    encode_upload_data,
    encode_upload_header,
    upload_method,
)

logger = logging.getLogger(__name__)

# Bytes per recv() of the raw copy's receiver, and per block of the generated file.
CHUNK_BYTES = 1024 * 1024
MIB = 1024 * 1024
# Each size is copied, uploaded and downloaded this many times in turn, and the medians count.
# Each method's file of the previous round is deleted just before the method runs again, so
# after the first round each writes into the page cache that its own last file freed.
ROUNDS = 5
# The agent's channel options: message limits and keepalive.
CHANNEL_OPTIONS = ChannelSettings().options()


def make_file(path: Path, size: int) -> str:
    """Write size random bytes to path; return their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as file:
        remaining = size
        while remaining:
            block = os.urandom(min(CHUNK_BYTES * 8, remaining))
            digest.update(block)
            file.write(block)
            remaining -= len(block)
    return digest.hexdigest()


def renew_file(path: Path, round_number: int) -> str:
    """Overwrite the first 8 bytes of path with round_number; return the file's new sha256.

    Each round then uploads a new artifact: a second upload of stored content would replace
    the stored file, and freeing the old one inside the rename took 0.1 s for 512 MiB.
    """
    with open(path, "r+b") as file:
        file.write(round_number.to_bytes(8, "big"))
        file.seek(0)
        return hashlib.file_digest(file, "sha256").hexdigest()


def raw_tcp_copy(source: Path, target: Path) -> float:
    """Copy source to target through a loopback TCP connection; return the seconds taken."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def receive() -> None:
        connection, _ = listener.accept()
        with connection, open(target, "wb") as file:
            while block := connection.recv(CHUNK_BYTES):
                file.write(block)
            file.flush()
            os.fsync(file.fileno())

    receiver = threading.Thread(target=receive)
    receiver.start()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sender, open(source, "rb") as file:
        sender.sendfile(file)
        sender.shutdown(socket.SHUT_WR)
        receiver.join()
    seconds = time.monotonic() - started
    listener.close()
    return seconds


async def _upload_messages(path: Path, sha256: str) -> AsyncIterator[bytes]:
    """Yield the encoded UploadChunks of path; the next is read in a thread while one is sent."""
    header = artifacts_pb2.UploadHeader(name=path.name, size=path.stat().st_size, sha256=sha256)
    yield encode_upload_header(header)
    buffer = bytearray(UPLOAD_CHUNK_BYTES)
    with open(path, "rb") as file:
        pending = asyncio.ensure_future(asyncio.to_thread(file.readinto, buffer))
        try:
            while length := await pending:
                message = encode_upload_data(memoryview(buffer)[:length])
                pending = asyncio.ensure_future(asyncio.to_thread(file.readinto, buffer))
                yield message
        finally:
            await asyncio.wait({pending})


async def _download(channel: grpc.aio.Channel, sha256: str, target: Path) -> None:
    """Download into target, writing each chunk in a thread while the next arrives, then sync."""
    download = download_method(channel)
    with open(target, "wb") as file:
        pending: asyncio.Future[int] | None = None
        try:
            async for part in download(artifacts_pb2.DownloadRequest(sha256=sha256), timeout=600):
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(asyncio.to_thread(file.write, part.data))
            if pending is not None:
                await pending
        finally:
            if pending is not None:
                await asyncio.wait({pending})
        file.flush()
        await asyncio.to_thread(os.fsync, file.fileno())


async def _peak_rss(controller: ControllerProcess, done: asyncio.Event) -> int:
    peak = 0
    while not done.is_set():
        peak = max(peak, controller.usage()[1])
        await asyncio.sleep(0.02)
    return peak


async def _transfer(
    channel: grpc.aio.Channel,
    controller: ControllerProcess,
    path: Path,
    sha256: str,
    target: Path,
) -> tuple[float, float, int]:
    """Upload then download path; return upload s, download s and the controller's peak RSS.

    Each is preceded by deleting its file of the previous round: the stored artifacts (with
    Prune) before the upload and target before the download, as the raw copy's file is
    deleted before the raw copy.
    """
    prune_all = artifacts_pb2.PruneRequest(max_size_gb=0)
    await artifacts_pb2_grpc.ArtifactServiceStub(channel).Prune(prune_all, timeout=60)
    done = asyncio.Event()
    sampler = asyncio.create_task(_peak_rss(controller, done))
    started = time.monotonic()
    await upload_method(channel)(_upload_messages(path, sha256), timeout=600)
    upload_seconds = time.monotonic() - started

    target.unlink(missing_ok=True)
    started = time.monotonic()
    await _download(channel, sha256, target)
    download_seconds = time.monotonic() - started
    done.set()
    return upload_seconds, download_seconds, await sampler


async def _measure_size(
    channel: grpc.aio.Channel, controller: ControllerProcess, work: Path, size_mib: int
) -> dict[str, Any]:
    """Copy, upload and download one file ROUNDS times; return the medians and every round."""
    source = work / f"source-{size_mib}.bin"
    raw_target, download_target = work / "raw-copy.bin", work / "download.bin"
    await asyncio.to_thread(make_file, source, size_mib * MIB)
    rounds = []
    try:
        for round_number in range(ROUNDS):
            sha256 = await asyncio.to_thread(renew_file, source, round_number)
            raw_target.unlink(missing_ok=True)
            raw = await asyncio.to_thread(raw_tcp_copy, source, raw_target)
            upload, download, peak = await _transfer(
                channel, controller, source, sha256, download_target
            )
            rounds.append(
                {
                    "raw_mib_s": size_mib / raw,
                    "upload_mib_s": size_mib / upload,
                    "download_mib_s": size_mib / download,
                    "peak_rss_mib": peak / MIB,
                }
            )
    finally:
        for path in (source, raw_target, download_target):
            path.unlink(missing_ok=True)
    row: dict[str, Any] = {"size_mib": size_mib}
    for key in ("raw_mib_s", "upload_mib_s", "download_mib_s"):
        row[key] = statistics.median(entry[key] for entry in rounds)
    row["peak_rss_mib"] = max(entry["peak_rss_mib"] for entry in rounds)
    row["rounds"] = rounds
    return row


async def artifact_transfer(root: Path, sizes_mib: list[int]) -> Section:
    """Throughput of Upload and Download per file size, and the controller's memory."""
    parameters = {"sizes_mib": sizes_mib, "chunk_bytes": UPLOAD_CHUNK_BYTES, "rounds": ROUNDS}
    section = Section("artifacts", parameters)
    work = root / "artifacts-work"
    work.mkdir(parents=True, exist_ok=True)
    controller = ControllerProcess(root / "artifacts")
    address = controller.start()
    rows = []
    try:
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            baseline_rss = controller.usage()[1]
            for size_mib in sizes_mib:
                row = await _measure_size(channel, controller, work, size_mib)
                row["baseline_rss_mib"] = baseline_rss / MIB
                rows.append(row)
    finally:
        controller.stop()
    section.series["rows"] = rows
    top = rows[-1]
    size = top["size_mib"]
    section.add(f"raw TCP copy, {size} MiB, median", top["raw_mib_s"], "MiB/s")
    section.add(f"upload, {size} MiB, median", top["upload_mib_s"], "MiB/s")
    section.add(f"download, {size} MiB, median", top["download_mib_s"], "MiB/s")
    section.add("upload / raw", top["upload_mib_s"] / top["raw_mib_s"], "x", at_least=0.5)
    section.add("download / raw", top["download_mib_s"] / top["raw_mib_s"], "x", at_least=0.5)
    growth = rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"]
    section.add(f"controller peak RSS growth, {rows[0]['size_mib']} to {size} MiB", growth, "MiB")
    return section
