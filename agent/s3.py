"""Download `s3://bucket/key` sources with boto3, which is an optional extra (`aefarm[s3]`).

boto3 finds credentials, the region and the endpoint the usual way: the AWS_* environment
variables (AWS_ENDPOINT_URL for S3-compatible storage such as MinIO), ~/.aws/config and
~/.aws/credentials, or the instance's role.
"""

from __future__ import annotations

import importlib
import logging
import urllib.parse
from pathlib import Path
from typing import Any

from agent.http_fetch import fetch_error

logger = logging.getLogger(__name__)


def split_s3_url(url: str) -> tuple[str, str]:
    """Return the bucket and the percent-decoded key of s3://bucket/key."""
    parts = urllib.parse.urlsplit(url)
    key = urllib.parse.unquote(parts.path.lstrip("/"))
    if not parts.netloc or not key:
        raise fetch_error(url, "an S3 source must look like s3://bucket/key", retryable=False)
    return parts.netloc, key


def _boto3(url: str) -> Any:
    try:
        return importlib.import_module("boto3")
    except ImportError as error:
        raise fetch_error(
            url,
            "s3:// sources need boto3, which this agent does not have; install it with "
            "`pip install 'aefarm[s3]'` on the agent",
            retryable=False,
        ) from error


def download_s3(url: str, destination: Path) -> int:
    """Download url into destination and return its size; raises LeaseFailure(fetch_failed)."""
    bucket, key = split_s3_url(url)
    boto3 = _boto3(url)
    botocore_exceptions = importlib.import_module("botocore.exceptions")
    client = boto3.client("s3")
    try:
        client.download_file(bucket, key, str(destination))
    except botocore_exceptions.ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        missing = code in ("404", "NoSuchKey", "NoSuchBucket", "403", "AccessDenied")
        raise fetch_error(url, f"S3 error {code}: {error}", retryable=not missing) from error
    except botocore_exceptions.BotoCoreError as error:
        raise fetch_error(url, f"S3 error: {error}", retryable=True) from error
    size = destination.stat().st_size
    if size == 0:
        raise fetch_error(url, "the object is empty (0 bytes)", retryable=False)
    return size
