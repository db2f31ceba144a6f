"""Output destinations other than the controller's artifact store: a shared folder, or S3.

A job's upload {provider, params} picks one:
- provider "fs", params {path}: the files are copied to <path>/<job id>/<file name>, and the
  output URL is that file's file:// URL. The path is on the agent's box, typically a share
  that every agent and the parent jobs' agents mount.
- provider "s3", params {bucket, key? | prefix?, endpoint?, region?}: the files are uploaded to
  s3://<bucket>/<prefix>/<job id>/<file name> with boto3 (an optional dependency), or, with
  key, the job's one output to s3://<bucket>/<key>. endpoint names an S3-compatible server,
  and with it boto3 contacts only that server. region defaults to us-east-1. Credentials come
  from the agent's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
  or its AWS config files.
Each output carries its size and sha256, computed from the file sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import LeaseFailure
from protos import common_pb2

logger = logging.getLogger(__name__)

PROVIDERS = ("fs", "s3")
CHUNK_BYTES = 1 << 20
DEFAULT_S3_REGION = "us-east-1"


@dataclass(frozen=True)
class Destination:
    provider: str
    params: dict[str, Any]

    def folder_path(self, job_id: str, name: str) -> Path:
        """Return the path a file of the job is written to, for provider fs."""
        return (Path(self.params["path"]).expanduser() / job_id / name).absolute()

    def location(self, job_id: str, name: str) -> str:
        """Return the URL a file of the job is stored at."""
        if self.provider == "fs":
            return self.folder_path(job_id, name).as_uri()
        key = self.params.get("key")
        if key:
            return f"s3://{self.params['bucket']}/{key}"
        prefix = str(self.params.get("prefix") or "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return f"s3://{self.params['bucket']}/{prefix}{job_id}/{name}"


def destination_for(upload_json: str) -> Destination | None:
    """Return the task's destination, or None for the controller's artifact store."""
    if not upload_json:
        return None
    upload = json.loads(upload_json)
    provider = upload.get("provider")
    params = upload.get("params") or {}
    if provider not in PROVIDERS:
        raise LeaseFailure(
            "upload_failed",
            f"upload.provider {provider!r} is not one this agent sends to; use "
            + " or ".join(PROVIDERS),
        )
    needed = "path" if provider == "fs" else "bucket"
    if not isinstance(params.get(needed), str) or not params[needed]:
        raise LeaseFailure(
            "upload_failed", f"upload.params.{needed} is missing: provider {provider} needs it"
        )
    for name in ("key", "prefix", "endpoint", "region"):
        if params.get(name) is not None and not isinstance(params[name], str):
            raise LeaseFailure("upload_failed", f"upload.params.{name} must be a string")
    if provider == "s3" and params.get("key") and params.get("prefix"):
        raise LeaseFailure(
            "upload_failed",
            "upload.params has both key and prefix: give key for one output's object name, "
            "or prefix for a folder of outputs",
        )
    return Destination(provider, params)


def check_file_count(destination: Destination, count: int) -> None:
    """Reject several outputs for one s3 key, because each would overwrite the last."""
    if destination.provider == "s3" and destination.params.get("key") and count > 1:
        raise LeaseFailure(
            "upload_failed",
            f"upload.params.key names one object but the job has {count} outputs; "
            "give upload.params.prefix instead",
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


async def send(destination: Destination, path: Path, job_id: str) -> common_pb2.Output:
    url = destination.location(job_id, path.name)
    if destination.provider == "fs":
        await asyncio.to_thread(_copy, path, destination.folder_path(job_id, path.name))
    else:
        await asyncio.to_thread(_put_s3, destination, path, url)
    output = common_pb2.Output(
        url=url, size=path.stat().st_size, sha256=sha256_of(path), name=path.name
    )
    logger.info("sent %s to %s (%d bytes)", path.name, url, output.size)
    return output


def _copy(path: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.part")
        shutil.copyfile(path, temporary)
        temporary.replace(target)
    except OSError as error:
        raise LeaseFailure(
            "upload_failed", f"cannot write {path.name} to {target.parent}: {error}"
        ) from error


def _put_s3(destination: Destination, path: Path, url: str) -> None:
    try:
        import boto3
    except ImportError as error:
        raise LeaseFailure(
            "upload_failed",
            "upload.provider s3 needs boto3 on the agent; install it (pip install boto3)",
        ) from error
    import botocore.config

    params = destination.params
    # Path-style addressing keeps the bucket out of the host name, so only the endpoint's host
    # is contacted. The explicit region keeps boto3 from reading one from the AWS config.
    client = boto3.client(
        "s3",
        endpoint_url=params.get("endpoint") or None,
        region_name=params.get("region") or DEFAULT_S3_REGION,
        config=botocore.config.Config(
            s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}
        ),
    )
    bucket, _, key = url.removeprefix("s3://").partition("/")
    try:
        client.upload_file(str(path), bucket, key)
    except Exception as error:
        raise LeaseFailure(
            "upload_failed", f"cannot upload {path.name} to {url}: {error}"
        ) from error
