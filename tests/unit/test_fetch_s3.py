"""s3:// sources through boto3, against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.errors import LeaseFailure
from agent.fetch import Fetcher

boto3 = pytest.importorskip("boto3", reason="boto3 is the optional s3 extra")
moto_server = pytest.importorskip("moto.server", reason="moto is needed for a local S3 server")

BODY = b"footage bytes " * 500


@pytest.fixture
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # Only the local server: fixed credentials, no config files, no instance metadata.
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket="media")
    try:
        yield client
    finally:
        server.stop()


def test_s3_object_is_fetched_and_cached(tmp_path: Path, bucket: Any) -> None:
    from agent.cache import FileCache

    bucket.put_object(Bucket="media", Key="clips/my clip.mov", Body=BODY)
    fetcher = Fetcher([], cache=FileCache(tmp_path / "cache"))
    sha256 = hashlib.sha256(BODY).hexdigest()
    source = "s3://media/clips/my%20clip.mov"
    fetched = asyncio.run(fetcher.fetch(source, tmp_path / "a", sha256=sha256))
    assert fetched.path.name == "my clip.mov"
    assert fetched.path.read_bytes() == BODY
    assert not fetched.from_cache
    again = asyncio.run(fetcher.fetch(source, tmp_path / "b", sha256=sha256))
    assert again.from_cache


def test_s3_missing_key_is_not_retryable(tmp_path: Path, bucket: Any) -> None:
    with pytest.raises(LeaseFailure) as caught:
        asyncio.run(Fetcher([]).fetch("s3://media/none.mov", tmp_path / "ws"))
    assert caught.value.code == "fetch_failed"
    assert "s3://media/none.mov" in caught.value.message
    assert not caught.value.retryable
