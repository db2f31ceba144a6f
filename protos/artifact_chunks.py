"""The data chunks of ArtifactService on the wire, encoded and decoded with one copy or none.

This module is written by hand, unlike the generated *_pb2 modules beside it. The generated
classes copy a chunk's bytes into the message and again out of it, on both sides of a call. For the
messages that carry file data these functions read and write the protobuf wire format
directly: a decoded chunk's data is a memoryview into the received message, and an encoded
chunk is the bytes joined once. Every other message, and any encoding that the fast path does
not recognise, goes through the generated classes, so both sides stay compatible with any
protobuf implementation. The method helpers build the Upload and Download calls with these
codecs for a sync or an aio channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protos import artifacts_pb2

# Bytes of file data per UploadChunk that the clients send. The controller accepts messages of
# up to 16 MiB, but this keeps each message 1 MiB below gRPC's default limit of 4 MiB, as
# DownloadChunks are. See docs/benchmarks.md for the chunk sizes that were measured.
UPLOAD_CHUNK_BYTES = 3 * 1024 * 1024

UPLOAD_METHOD = "/aefarm.v1.ArtifactService/Upload"
DOWNLOAD_METHOD = "/aefarm.v1.ArtifactService/Download"

# Protobuf tags: (field number << 3) | wire type, with wire type 2 for bytes, 0 for varints.
_UPLOAD_DATA_TAG = 0x12  # UploadChunk.data = 2
_DOWNLOAD_DATA_TAG = 0x0A  # DownloadChunk.data = 1
_DOWNLOAD_SIZE_TAG = 0x10  # DownloadChunk.size = 2
_MAX_VARINT_BYTES = 10


@dataclass(frozen=True, slots=True)
class UploadPart:
    """One decoded UploadChunk: the header of the first chunk, or the data of a later one."""

    header: artifacts_pb2.UploadHeader | None
    data: memoryview


@dataclass(frozen=True, slots=True)
class DownloadPart:
    """One DownloadChunk: data from the file, and in the first chunk the whole file's size."""

    data: bytes | memoryview
    size: int = 0


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"a length or size must not be negative, got {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buffer: bytes | memoryview, index: int) -> tuple[int, int] | None:
    """Return the varint at index and the index after it, or None when it is cut off."""
    value = 0
    for shift in range(0, 7 * _MAX_VARINT_BYTES, 7):
        if index >= len(buffer):
            return None
        byte = buffer[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index
    return None


def encode_upload_data(data: bytes | memoryview) -> bytes:
    """Return the UploadChunk message whose body is data, as UploadChunk(data=data) encodes."""
    return b"".join((bytes((_UPLOAD_DATA_TAG,)), encode_varint(len(data)), data))


def encode_upload_header(header: artifacts_pb2.UploadHeader) -> bytes:
    return artifacts_pb2.UploadChunk(header=header).SerializeToString()


def encode_upload_chunk(chunk: bytes | artifacts_pb2.UploadChunk) -> bytes:
    """Serialize a request of Upload: bytes from encode_upload_* pass as they are."""
    if isinstance(chunk, bytes):
        return chunk
    return chunk.SerializeToString()


def decode_upload_chunk(message: bytes) -> UploadPart:
    """Parse an UploadChunk; a data chunk's data is a view into message, not a copy."""
    length = _single_field_length(message, _UPLOAD_DATA_TAG)
    if length is not None:
        return UploadPart(None, memoryview(message)[len(message) - length :])
    chunk = artifacts_pb2.UploadChunk.FromString(message)
    if chunk.WhichOneof("body") == "header":
        return UploadPart(chunk.header, memoryview(b""))
    return UploadPart(None, memoryview(chunk.data))


def encode_download_chunk(part: bytes | DownloadPart | artifacts_pb2.DownloadChunk) -> bytes:
    """Serialize a DownloadChunk as the generated class does: data, then size when not 0.

    bytes are taken as a message that is encoded already and pass as they are.
    """
    if isinstance(part, bytes):
        return part
    if isinstance(part, artifacts_pb2.DownloadChunk):
        return part.SerializeToString()
    pieces: list[bytes | memoryview] = []
    if len(part.data):
        pieces += [bytes((_DOWNLOAD_DATA_TAG,)), encode_varint(len(part.data)), part.data]
    if part.size:
        pieces += [bytes((_DOWNLOAD_SIZE_TAG,)), encode_varint(part.size)]
    return b"".join(pieces)


def decode_download_chunk(message: bytes) -> DownloadPart:
    """Parse a DownloadChunk; its data is a view into message when it comes first."""
    if message[:1] == bytes((_DOWNLOAD_DATA_TAG,)):
        parsed = decode_varint(message, 1)
        if parsed is not None:
            length, start = parsed
            end = start + length
            if end == len(message):
                return DownloadPart(memoryview(message)[start:end], 0)
            if end < len(message) and message[end] == _DOWNLOAD_SIZE_TAG:
                size = decode_varint(message, end + 1)
                if size is not None and size[1] == len(message):
                    return DownloadPart(memoryview(message)[start:end], size[0])
    chunk = artifacts_pb2.DownloadChunk.FromString(message)
    return DownloadPart(memoryview(chunk.data), chunk.size)


def upload_method(channel: Any) -> Any:
    """Return the Upload call of channel (grpc.Channel or grpc.aio.Channel) with these codecs.

    Its requests are bytes from encode_upload_header and encode_upload_data, or UploadChunk
    messages.
    """
    return channel.stream_unary(
        UPLOAD_METHOD,
        request_serializer=encode_upload_chunk,
        response_deserializer=artifacts_pb2.ArtifactRef.FromString,
    )


def download_method(channel: Any) -> Any:
    """Return the Download call of channel, whose responses are DownloadPart."""
    return channel.unary_stream(
        DOWNLOAD_METHOD,
        request_serializer=artifacts_pb2.DownloadRequest.SerializeToString,
        response_deserializer=decode_download_chunk,
    )


def _single_field_length(message: bytes, tag: int) -> int | None:
    """Return the length of message's only field when it is the bytes field tag, else None."""
    if message[:1] != bytes((tag,)):
        return None
    parsed = decode_varint(message, 1)
    if parsed is None:
        return None
    length, start = parsed
    return length if start + length == len(message) else None
