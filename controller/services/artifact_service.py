"""ArtifactService: upload, download and stat content-addressed files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from controller.artifacts import (
    ArtifactStore,
    StoredFile,
    Upload,
    artifact_url,
    validate_name,
    validate_sha256,
)
from controller.errors import ArtifactNotFound, InvalidRequest, OffsetOutOfRange
from controller.retention import RetentionConfig, prune
from controller.sqlite_store import SqliteStore
from controller.status import Context, stream_errors, unary_errors
from controller.store import ArtifactRecord
from protos import artifacts_pb2, artifacts_pb2_grpc

logger = logging.getLogger(__name__)


class ArtifactService(artifacts_pb2_grpc.ArtifactServiceServicer):
    def __init__(self, artifacts: ArtifactStore, store: SqliteStore, clock: Any) -> None:
        self.artifacts = artifacts
        self.store = store
        self.clock = clock

    @unary_errors
    async def Upload(
        self, request_iterator: AsyncIterator[artifacts_pb2.UploadChunk], context: Context
    ) -> artifacts_pb2.ArtifactRef:
        header: artifacts_pb2.UploadHeader | None = None
        upload: Upload | None = None
        try:
            async for chunk in request_iterator:
                body = chunk.WhichOneof("body")
                if header is None:
                    header = _check_header(chunk)
                    upload = self.artifacts.begin_upload()
                elif body == "header":
                    raise InvalidRequest("header", "only the first UploadChunk may carry a header")
                elif upload is not None:
                    # Hashing and writing 1 MiB in a thread lets the event loop receive the
                    # next chunk meanwhile, and serve other calls.
                    await asyncio.to_thread(upload.write, chunk.data, header.size)
            if header is None or upload is None:
                raise InvalidRequest("header", "the upload sent no chunks; send the header first")
            stored = await asyncio.to_thread(upload.finish, header.size, header.sha256)
        except BaseException:
            if upload is not None:
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
    ) -> AsyncIterator[artifacts_pb2.DownloadChunk]:
        validate_sha256(request.sha256, "sha256")
        size = self.artifacts.size(request.sha256)
        if not 0 <= request.offset <= size:
            raise OffsetOutOfRange(
                f"offset {request.offset} is outside artifact {request.sha256} of {size} bytes"
            )
        first = True
        for data in self.artifacts.read_chunks(request.sha256, request.offset):
            yield artifacts_pb2.DownloadChunk(data=data, size=size if first else 0)
            first = False
        if first:
            # An empty file, or a download from its end: the size still arrives.
            yield artifacts_pb2.DownloadChunk(size=size)

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


def _check_header(chunk: artifacts_pb2.UploadChunk) -> artifacts_pb2.UploadHeader:
    if chunk.WhichOneof("body") != "header":
        raise InvalidRequest("header", "the first UploadChunk must carry the header")
    header = chunk.header
    validate_name(header.name, "header.name")
    if header.size < 0:
        raise InvalidRequest("header.size", f"{header.size} is negative; give the size or 0")
    if header.sha256:
        validate_sha256(header.sha256, "header.sha256")
    return header
