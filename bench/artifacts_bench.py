"""Artifact upload and download over gRPC, against a raw loopback TCP copy of the same file.

The raw copy sends the file over one TCP connection on 127.0.0.1 to a thread that writes it to
a file and syncs it, as the artifact store does, but without hashing and without gRPC framing.
The controller's resident memory is sampled every 20 ms during each transfer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from bench.controller_proc import ControllerProcess
from bench.figures import Section
from protos import artifacts_pb2, artifacts_pb2_grpc

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
MIB = 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * MIB),
    ("grpc.max_send_message_length", 16 * MIB),
]


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


async def _upload_chunks(path: Path, sha256: str) -> AsyncIterator[artifacts_pb2.UploadChunk]:
    header = artifacts_pb2.UploadHeader(name=path.name, size=path.stat().st_size, sha256=sha256)
    yield artifacts_pb2.UploadChunk(header=header)
    with open(path, "rb") as file:
        while block := file.read(CHUNK_BYTES):
            yield artifacts_pb2.UploadChunk(data=block)


async def _peak_rss(controller: ControllerProcess, done: asyncio.Event) -> int:
    peak = 0
    while not done.is_set():
        peak = max(peak, controller.usage()[1])
        await asyncio.sleep(0.02)
    return peak


async def _transfer(
    stub: artifacts_pb2_grpc.ArtifactServiceStub,
    controller: ControllerProcess,
    path: Path,
    sha256: str,
    target: Path,
) -> tuple[float, float, int]:
    """Upload then download path; return upload s, download s and the controller's peak RSS."""
    done = asyncio.Event()
    sampler = asyncio.create_task(_peak_rss(controller, done))
    started = time.monotonic()
    await stub.Upload(_upload_chunks(path, sha256), timeout=600)
    upload_seconds = time.monotonic() - started

    started = time.monotonic()
    with open(target, "wb") as file:
        async for chunk in stub.Download(artifacts_pb2.DownloadRequest(sha256=sha256), timeout=600):
            file.write(chunk.data)
        file.flush()
        os.fsync(file.fileno())
    download_seconds = time.monotonic() - started
    done.set()
    return upload_seconds, download_seconds, await sampler


async def artifact_transfer(root: Path, sizes_mib: list[int]) -> Section:
    """Throughput of Upload and Download per file size, and the controller's memory."""
    section = Section("artifacts", {"sizes_mib": sizes_mib, "chunk_bytes": CHUNK_BYTES})
    work = root / "artifacts-work"
    work.mkdir(parents=True, exist_ok=True)
    controller = ControllerProcess(root / "artifacts")
    address = controller.start()
    rows = []
    try:
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            stub = artifacts_pb2_grpc.ArtifactServiceStub(channel)
            baseline_rss = controller.usage()[1]
            for size_mib in sizes_mib:
                source = work / f"source-{size_mib}.bin"
                sha256 = await asyncio.to_thread(make_file, source, size_mib * MIB)
                raw = await asyncio.to_thread(raw_tcp_copy, source, work / "raw-copy.bin")
                upload, download, peak = await _transfer(
                    stub, controller, source, sha256, work / "download.bin"
                )
                rows.append(
                    {
                        "size_mib": size_mib,
                        "raw_mib_s": size_mib / raw,
                        "upload_mib_s": size_mib / upload,
                        "download_mib_s": size_mib / download,
                        "peak_rss_mib": peak / MIB,
                        "baseline_rss_mib": baseline_rss / MIB,
                    }
                )
                for path in (source, work / "raw-copy.bin", work / "download.bin"):
                    path.unlink(missing_ok=True)
    finally:
        controller.stop()
    section.series["rows"] = rows
    top = rows[-1]
    size = top["size_mib"]
    section.add(f"raw TCP copy, {size} MiB", top["raw_mib_s"], "MiB/s")
    section.add(f"upload, {size} MiB", top["upload_mib_s"], "MiB/s")
    section.add(f"download, {size} MiB", top["download_mib_s"], "MiB/s")
    section.add("upload / raw", top["upload_mib_s"] / top["raw_mib_s"], "x", at_least=0.5)
    section.add("download / raw", top["download_mib_s"] / top["raw_mib_s"], "x", at_least=0.5)
    growth = rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"]
    section.add(f"controller peak RSS growth, {rows[0]['size_mib']} to {size} MiB", growth, "MiB")
    return section
