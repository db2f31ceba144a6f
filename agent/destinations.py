"""Output destinations other than the controller's artifact store: a shared folder, or S3.

A job's upload {provider, params} picks one:
- provider "fs", params {path}: the files are copied to <path>/<job id>/<file name>, and the
  output URL is that file's file:// URL. The path is on the agent's box, typically a share
  that every agent and the parent jobs' agents mount.
- provider "s3", params {bucket, prefix?, endpoint?, region?}: the files are uploaded to
  s3://<bucket>/<prefix><job id>/<file name> with boto3 (an optional dependency). endpoint
  names an S3-compatible server.
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


@dataclass(frozen=True)
class Destination:
    provider: str
    params: dict[str, Any]

    def folder_path(self, job_id: str, name: str) -> Path:
        """Where a file of the job goes, for provider fs."""
        return (Path(self.params["path"]).expanduser() / job_id / name).absolute()

    def location(self, job_id: str, name: str) -> str:
        """The URL a file of the job goes to."""
        if self.provider == "fs":
            return self.folder_path(job_id, name).as_uri()
        prefix = str(self.params.get("prefix") or "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return f"s3://{self.params['bucket']}/{prefix}{job_id}/{name}"


def destination_for(upload_json: str) -> Destination | None:
    """The task's destination, or None for the controller's artifact store."""
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
    return Destination(provider, params)


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
    # NOTE: tests cover the s3 URLs and parameter checks only; no upload to an S3 server has run.
    try:
        import boto3
    except ImportError as error:
        raise LeaseFailure(
            "upload_failed",
            "upload.provider s3 needs boto3 on the agent; install it (pip install boto3)",
        ) from error
    params = destination.params
    client = boto3.client(
        "s3", endpoint_url=params.get("endpoint"), region_name=params.get("region")
    )
    bucket, _, key = url.removeprefix("s3://").partition("/")
    try:
        client.upload_file(str(path), bucket, key)
    except Exception as error:
        raise LeaseFailure(
            "upload_failed", f"cannot upload {path.name} to {url}: {error}"
        ) from error
