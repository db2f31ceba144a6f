"""ArtifactService: upload, download and stat content-addressed files.

Upload and Download move file data in chunks of a few MiB, decoded and encoded by
protos.artifact_chunks without copying the data through protobuf messages. Hashing, writing
and reading run in worker threads, each overlapped with the event loop receiving or sending the
next chunk, so a call keeps about two chunks in memory whatever the file's size.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc

from controller.artifacts import (
    DOWNLOAD_CHUNK_BYTES,
    ArtifactStore,
    StoredFile,
    Upload,
    artifact_url,
    validate_name,
    validate_sha256,
)
from controller.errors import ArtifactNotFound, InvalidRequest
from controller.retention import RetentionConfig, prune
from controller.sqlite_store import SqliteStore
from controller.status import Context, stream_errors, unary_errors
from controller.store import ArtifactRecord
from protos import artifacts_pb2
from protos.artifact_chunks import (
    DownloadPart,
    UploadPart,
    decode_upload_chunk,
    encode_download_chunk,
)

logger = logging.getLogger(__name__)


class ArtifactService:
    """The servicer of ArtifactService, registered with add_artifact_service.

    It does not derive from the generated ArtifactServiceServicer, because Upload receives
    UploadPart and Download yields encoded bytes in place of the generated message classes.
    """

    def __init__(self, artifacts: ArtifactStore, store: SqliteStore, clock: Any) -> None:
        self.artifacts = artifacts
        self.store = store
        self.clock = clock

    @unary_errors
    async def Upload(
        self, request_iterator: AsyncIterator[UploadPart], context: Context
    ) -> artifacts_pb2.ArtifactRef:
        header: artifacts_pb2.UploadHeader | None = None
        upload: Upload | None = None
        # The previous chunk's hash and write, in two worker threads while the loop receives.
        pending: asyncio.Future[Any] | None = None
        try:
            async for part in request_iterator:
                if header is None:
                    header = _check_header(part)
                    upload = self.artifacts.begin_upload()
                elif part.header is not None:
                    raise InvalidRequest("header", "only the first UploadChunk may carry a header")
                elif upload is not None:
                    upload.add_size(len(part.data), header.size)
                    if pending is not None:
                        await pending
                    pending = asyncio.gather(
                        asyncio.to_thread(upload.update_hash, part.data),
                        asyncio.to_thread(upload.write_data, part.data),
                    )
            if pending is not None:
                await pending
            if header is None or upload is None:
                raise InvalidRequest("header", "the upload sent no chunks; send the header first")
            stored = await asyncio.to_thread(upload.finish, header.size, header.sha256)
        except BaseException:
            if pending is not None:
                _discard(pending)
            if upload is not None:
                # Waits for a write still running in a worker thread, at most one chunk's.
                upload.abort()
            raise
        return self._record(header, stored)

    def _record(
        self, header: artifacts_pb2.UploadHeader, stored: StoredFile
    ) -> artifacts_pb2.ArtifactRef:
        record = ArtifactRecord(
            sha256=stored.sha256,
            size=stored.size,
            name=header.name,
            job_id=header.job_id,
            lease_id=header.lease_id,
            created_at=self.clock(),
        )
        with self.store.transaction():
            self.store.insert_artifact(record)
        logger.info(
            "job=%s lease=%s: stored artifact %s (%s, %d bytes)",
            header.job_id or "-",
            header.lease_id or "-",
            stored.sha256,
            header.name,
            stored.size,
        )
        return artifacts_pb2.ArtifactRef(
            sha256=stored.sha256,
            size=stored.size,
            name=header.name,
            url=artifact_url(stored.sha256, header.name),
        )

    @stream_errors
    async def Download(
        self, request: artifacts_pb2.DownloadRequest, context: Context
    ) -> AsyncIterator[bytes]:
        """Yield the encoded DownloadChunks of the file, from request.offset on."""
        validate_sha256(request.sha256, "sha256")
        reader = self.artifacts.open_reader(request.sha256, request.offset)
        # One buffer serves the whole download: each chunk is encoded into its own message
        # before the next chunk is read into the buffer, in a worker thread while it is sent.
        buffer = bytearray(DOWNLOAD_CHUNK_BYTES)
        next_read = asyncio.ensure_future(asyncio.to_thread(reader.readinto, buffer))
        try:
            first = True
            while length := await next_read:
                message = encode_download_chunk(
                    DownloadPart(memoryview(buffer)[:length], reader.size if first else 0)
                )
                next_read = asyncio.ensure_future(asyncio.to_thread(reader.readinto, buffer))
                yield message
                first = False
            if first:
                # An empty file, or a download from its end: the size still arrives.
                yield encode_download_chunk(DownloadPart(b"", reader.size))
        finally:
            _discard(next_read)
            # Waits for a read still running in a worker thread, at most one chunk's.
            reader.close()

    @unary_errors
    async def Stat(
        self, request: artifacts_pb2.StatRequest, context: Context
    ) -> artifacts_pb2.ArtifactRef:
        validate_sha256(request.sha256, "sha256")
        if not self.artifacts.exists(request.sha256):
            raise ArtifactNotFound(request.sha256)
        record = self.store.get_artifact(request.sha256)
        name = record.name if record else ""
        return artifacts_pb2.ArtifactRef(
            sha256=request.sha256,
            size=self.artifacts.size(request.sha256),
            name=name,
            url=artifact_url(request.sha256, name),
        )

    @unary_errors
    async def Prune(
        self, request: artifacts_pb2.PruneRequest, context: Context
    ) -> artifacts_pb2.PruneResponse:
        config = _prune_config(request)
        # The store's connection belongs to the event loop's thread, as for the hourly prune.
        removed = prune(self.store, self.artifacts, config, self.clock(), dry_run=request.dry_run)
        logger.info(
            "prune%s: %d artifacts, %d bytes (older than %s days, max size %s GB)",
            " (dry run)" if request.dry_run else "",
            len(removed),
            sum(entry.size for entry in removed),
            config.max_age_days,
            config.max_size_gb,
        )
        return artifacts_pb2.PruneResponse(
            removed=[
                artifacts_pb2.PrunedArtifact(
                    sha256=entry.sha256,
                    names=entry.names,
                    size=entry.size,
                    job_id=entry.job_id,
                    created_at=entry.created_at,
                    reason=entry.reason,
                )
                for entry in removed
            ],
            bytes_freed=sum(entry.size for entry in removed),
            dry_run=request.dry_run,
        )


def _prune_config(request: artifacts_pb2.PruneRequest) -> RetentionConfig:
    age = request.older_than_days if request.HasField("older_than_days") else None
    size = request.max_size_gb if request.HasField("max_size_gb") else None
    for field, value in (("older_than_days", age), ("max_size_gb", size)):
        if value is not None and value < 0:
            raise InvalidRequest(field, f"{value:g} is negative; give 0 or more")
    if age is None and size is None:
        raise InvalidRequest(
            "older_than_days", "give older_than_days, max_size_gb or both: nothing selects files"
        )
    return RetentionConfig(age, size)


def add_artifact_service(servicer: ArtifactService, server: grpc.aio.Server) -> None:
    """Register servicer as the generated add_ArtifactServiceServicer_to_server does, with
    Upload's requests and Download's responses in protos.artifact_chunks's codecs."""
    handlers = {
        "Upload": grpc.stream_unary_rpc_method_handler(
            servicer.Upload,
            request_deserializer=decode_upload_chunk,
            response_serializer=artifacts_pb2.ArtifactRef.SerializeToString,
        ),
        "Download": grpc.unary_stream_rpc_method_handler(
            servicer.Download,
            request_deserializer=artifacts_pb2.DownloadRequest.FromString,
            response_serializer=encode_download_chunk,
        ),
        "Stat": grpc.unary_unary_rpc_method_handler(
            servicer.Stat,
            request_deserializer=artifacts_pb2.StatRequest.FromString,
            response_serializer=artifacts_pb2.ArtifactRef.SerializeToString,
        ),
        "Prune": grpc.unary_unary_rpc_method_handler(
            servicer.Prune,
            request_deserializer=artifacts_pb2.PruneRequest.FromString,
            response_serializer=artifacts_pb2.PruneResponse.SerializeToString,
        ),
    }
    service = "aefarm.v1.ArtifactService"
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)


def _discard(future: asyncio.Future[Any]) -> None:
    """Let future finish unawaited, without a "never retrieved" warning for its error."""
    future.add_done_callback(lambda done: done.cancelled() or done.exception())


def _check_header(part: UploadPart) -> artifacts_pb2.UploadHeader:
    if part.header is None:
        raise InvalidRequest("header", "the first UploadChunk must carry the header")
    header = part.header
    validate_name(header.name, "header.name")
    if header.size < 0:
        raise InvalidRequest("header.size", f"{header.size} is negative; give the size or 0")
    if header.sha256:
        validate_sha256(header.sha256, "header.sha256")
    return header
