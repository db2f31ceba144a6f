"""The hand-written codec of ArtifactService data chunks against the generated protobuf classes."""

from __future__ import annotations

import pytest

from protos import artifacts_pb2
from protos.artifact_chunks import (
    DownloadPart,
    decode_download_chunk,
    decode_upload_chunk,
    decode_varint,
    encode_download_chunk,
    encode_upload_chunk,
    encode_upload_data,
    encode_upload_header,
    encode_varint,
)

# Lengths around the varint boundaries (1, 2 and 3 bytes) and a few MiB.
DATA_LENGTHS = [0, 1, 127, 128, 16383, 16384, 3 * 1024 * 1024 + 5]


def payload(length: int) -> bytes:
    return bytes(index % 251 for index in range(length))


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31, 2**63 - 1])
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded, 0) == (value, len(encoded))
    assert decode_varint(encoded[:-1], 0) is None


def test_varint_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        encode_varint(-1)


@pytest.mark.parametrize("length", DATA_LENGTHS)
def test_upload_data_encoded_as_protobuf(length: int) -> None:
    data = payload(length)
    encoded = encode_upload_data(data)
    assert encoded == artifacts_pb2.UploadChunk(data=data).SerializeToString()
    assert encode_upload_data(memoryview(data)) == encoded
    assert artifacts_pb2.UploadChunk.FromString(encoded).data == data


@pytest.mark.parametrize("length", DATA_LENGTHS)
def test_upload_data_decoded_without_copy(length: int) -> None:
    data = payload(length)
    message = artifacts_pb2.UploadChunk(data=data).SerializeToString()
    part = decode_upload_chunk(message)
    assert part.header is None
    assert bytes(part.data) == data
    assert part.data.obj is message


def test_upload_header_decoded() -> None:
    header = artifacts_pb2.UploadHeader(name="out.mp4", size=12, sha256="ab" * 32, job_id="j-1")
    message = encode_upload_header(header)
    assert message == artifacts_pb2.UploadChunk(header=header).SerializeToString()
    part = decode_upload_chunk(message)
    assert part.header == header
    assert len(part.data) == 0


def test_upload_chunk_of_unusual_encoding_decoded() -> None:
    # Two data fields: protobuf keeps the last one, and the fast path must not take the first.
    message = encode_upload_data(b"first") + encode_upload_data(b"second")
    assert bytes(decode_upload_chunk(message).data) == b"second"
    # No body at all, as an empty UploadChunk() encodes.
    empty = decode_upload_chunk(b"")
    assert (empty.header, bytes(empty.data)) == (None, b"")


def test_upload_chunk_serializer_passes_bytes() -> None:
    chunk = artifacts_pb2.UploadChunk(data=b"abc")
    assert encode_upload_chunk(chunk) == chunk.SerializeToString()
    assert encode_upload_chunk(b"\x12\x01x") == b"\x12\x01x"


@pytest.mark.parametrize("length", DATA_LENGTHS)
@pytest.mark.parametrize("size", [0, 1, 2**40])
def test_download_chunk_matches_protobuf(length: int, size: int) -> None:
    data = payload(length)
    expected = artifacts_pb2.DownloadChunk(data=data, size=size).SerializeToString()
    assert encode_download_chunk(DownloadPart(data, size)) == expected
    assert encode_download_chunk(DownloadPart(memoryview(data), size)) == expected
    part = decode_download_chunk(expected)
    assert bytes(part.data) == data
    assert part.size == size


def test_download_data_decoded_without_copy() -> None:
    message = artifacts_pb2.DownloadChunk(data=b"frames", size=6).SerializeToString()
    part = decode_download_chunk(message)
    assert isinstance(part.data, memoryview)
    assert part.data.obj is message


def test_download_chunk_in_other_field_order_decoded() -> None:
    # size before data is valid protobuf that the fast path does not take.
    message = b"\x10\x06" + b"\x0a\x06frames"
    part = decode_download_chunk(message)
    assert (bytes(part.data), part.size) == (b"frames", 6)


def test_download_serializer_passes_bytes_and_messages() -> None:
    chunk = artifacts_pb2.DownloadChunk(data=b"x", size=1)
    assert encode_download_chunk(chunk) == chunk.SerializeToString()
    assert encode_download_chunk(b"\x0a\x01x") == b"\x0a\x01x"
