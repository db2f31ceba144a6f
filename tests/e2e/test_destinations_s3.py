"""Outputs uploaded to an S3-compatible server (moto on 127.0.0.1) by a real farm."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from moto.server import ThreadedMotoServer

from protos import common_pb2
from tests.e2e.farm import TOP, Farm

pytestmark = pytest.mark.e2e

REGION = "eu-west-1"
BUCKET = "renders"
# Dummy credentials (moto accepts any), no instance metadata and no AWS config files, so boto3
# talks only to the endpoint the job names.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(endpoint: str) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = Farm(tmp_path_factory.mktemp("farm"))
    try:
        farm.start_controller()
        farm.start_agent("agent-1", env=AWS_ENV)
        farm.wait_for_agents(1)
        yield farm
    finally:
        farm.stop()


def job_with_upload(templates: Path, params: dict[str, str]) -> dict[str, object]:
    return {
        "template": {"src": (templates / "lower-third.aep").as_uri(), "composition": "LowerThird"},
        "settings": {"frames": [0, 4]},
        "upload": {"provider": "s3", "params": params},
    }


def stored_object(s3: Any, url: str) -> bytes:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_upload_with_prefix(farm: Farm, s3: Any, endpoint: str, templates: Path) -> None:
    params = {"bucket": BUCKET, "prefix": "daily", "endpoint": endpoint, "region": REGION}
    job_id = farm.submit(job_with_upload(templates, params)).job.id
    finished = farm.wait_final(job_id)
    assert finished.state == common_pb2.JOB_STATE_FINISHED, finished.error
    output = finished.outputs[0]
    assert output.url == f"s3://{BUCKET}/daily/{job_id}/{output.name}"
    body = stored_object(s3, output.url)
    assert len(body) == output.size
    assert hashlib.sha256(body).hexdigest() == output.sha256


def test_upload_with_key(farm: Farm, s3: Any, endpoint: str, templates: Path) -> None:
    params = {"bucket": BUCKET, "key": "shows/intro.mov", "endpoint": endpoint, "region": REGION}
    job_id = farm.submit(job_with_upload(templates, params)).job.id
    finished = farm.wait_final(job_id)
    assert finished.state == common_pb2.JOB_STATE_FINISHED, finished.error
    output = finished.outputs[0]
    assert output.url == f"s3://{BUCKET}/shows/intro.mov"
    assert hashlib.sha256(stored_object(s3, output.url)).hexdigest() == output.sha256


def test_missing_bucket_fails_upload(farm: Farm, s3: Any, endpoint: str, templates: Path) -> None:
    params = {"bucket": "no-such-bucket", "endpoint": endpoint, "region": REGION}
    job_id = farm.submit(job_with_upload(templates, params)).job.id
    finished = farm.wait_final(job_id)
    assert finished.state == common_pb2.JOB_STATE_FAILED
    assert finished.error.code == "upload_failed"
    assert "no-such-bucket" in finished.error.message
