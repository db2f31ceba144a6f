"""The output command: download a finished job's outputs from the controller's artifact store."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import grpc

from controller.cli import convert
from controller.cli.client import Controller, resolve_address
from controller.cli.console import print_json
from controller.cli.errors import (
    EXIT_FAILED,
    EXIT_OK,
    TRANSPORT_CODES,
    CliError,
    error_from_rpc,
    status_code,
)
from controller.cli.jobs import get_job
from protos import artifacts_pb2, common_pb2
from protos.artifact_chunks import download_method

logger = logging.getLogger(__name__)

ARTIFACT_SCHEME = "artifact"
# A download stream that breaks is resumed from the bytes already written, this many times,
# after a delay that grows by RESUME_DELAY_SECONDS with each resume.
MAX_DOWNLOAD_RESUMES = 3
RESUME_DELAY_SECONDS = 0.5


@dataclass(frozen=True)
class PlannedDownload:
    output: common_pb2.Output
    sha256: str
    path: Path


def run_output(args: argparse.Namespace) -> int:
    directory = Path(args.output_dir).expanduser().resolve()
    with Controller(resolve_address(args.controller)) as controller:
        job = get_job(controller, args.id)
        plan = plan_downloads(job.id, convert.state_name(job.state), job.outputs, directory)
        directory.mkdir(parents=True, exist_ok=True)
        for planned in plan:
            download(controller, job.id, planned)

    if args.json:
        print_json([downloaded_to_dict(planned, index == 0) for index, planned in enumerate(plan)])
    else:
        # The first output is the main one. It is printed last so that `tail -n 1` finds it.
        for planned in [*plan[1:], plan[0]]:
            print(planned.path)
    return EXIT_OK


def downloaded_to_dict(planned: PlannedDownload, main: bool) -> dict[str, Any]:
    return {**convert.output_to_dict(planned.output), "path": str(planned.path), "main": main}


def plan_downloads(
    job_id: str, state: str, outputs: Sequence[common_pb2.Output], directory: Path
) -> list[PlannedDownload]:
    """Return where each output goes, or raise CliError when the job has nothing to download."""
    if state != "finished":
        raise CliError(
            f"job {job_id} is {state}, not finished, and only a finished job has outputs. "
            f"Wait for it with `aefarm watch {job_id}`",
            EXIT_FAILED,
        )
    if not outputs:
        raise CliError(f"job {job_id} finished without outputs", EXIT_FAILED)

    plan: list[PlannedDownload] = []
    paths: dict[Path, str] = {}
    for output in outputs:
        sha256, name = parse_artifact_url(job_id, output)
        path = directory / name
        if path in paths and paths[path] != sha256:
            raise CliError(
                f"job {job_id} has two different outputs named {name!r}; "
                "download them by url from the artifact store",
                EXIT_FAILED,
            )
        paths[path] = sha256
        plan.append(PlannedDownload(output=output, sha256=sha256, path=path))
    return plan


def parse_artifact_url(job_id: str, output: common_pb2.Output) -> tuple[str, str]:
    """Return the sha256 and the file name of an artifact://<sha256>/<name> output."""
    parts = urlsplit(output.url)
    # NOTE: outputs on shared or object storage (file://, s3://) are not downloaded here.
    if parts.scheme != ARTIFACT_SCHEME:
        raise CliError(
            f"output {output.url} of job {job_id} is not in the controller's artifact store "
            f"(scheme {parts.scheme or 'none'!r}); fetch it from that location directly",
            EXIT_FAILED,
        )
    sha256 = parts.netloc.lower()
    if output.sha256 and output.sha256.lower() != sha256:
        raise CliError(
            f"output {output.url} of job {job_id} lists sha256 {output.sha256}, "
            "which differs from the sha256 in its url",
            EXIT_FAILED,
        )
    name = output.name or unquote(parts.path.lstrip("/"))
    # The name becomes a path under the output folder, so it must be one plain file name.
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise CliError(
            f"output {output.url} of job {job_id} has an unusable file name {name!r}",
            EXIT_FAILED,
        )
    return sha256, name


def download(controller: Controller, job_id: str, planned: PlannedDownload) -> None:
    """Download one output next to its final path, verify it, then move it into place.

    A file already at the path with the expected sha256 is kept as it is.
    """
    if planned.path.is_file() and file_sha256(planned.path) == planned.sha256:
        logger.info("output %s of job %s is already at %s", planned.sha256, job_id, planned.path)
        return

    partial = planned.path.with_name(f".{planned.path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        digest, size = stream_to_file(controller, planned.sha256, partial)
        check_download(job_id, planned, digest, size)
        os.replace(partial, planned.path)
    finally:
        partial.unlink(missing_ok=True)
    logger.info("downloaded output %s of job %s to %s", planned.sha256, job_id, planned.path)


def stream_to_file(controller: Controller, sha256: str, path: Path) -> tuple[str, int]:
    """Write the artifact to path and return its sha256 and size, resuming a broken stream."""
    digest = hashlib.sha256()
    written = 0
    resumes = 0
    with path.open("wb") as file:
        while True:
            request = artifacts_pb2.DownloadRequest(sha256=sha256, offset=written)
            try:
                for part in download_method(controller.channel)(request):
                    file.write(part.data)
                    digest.update(part.data)
                    written += len(part.data)
                return digest.hexdigest(), written
            except grpc.RpcError as error:
                if status_code(error) not in TRANSPORT_CODES or resumes >= MAX_DOWNLOAD_RESUMES:
                    action = f"download artifact {sha256}"
                    raise error_from_rpc(error, controller.address, action) from error
                resumes += 1
                logger.warning(
                    "download of artifact %s broke after %d bytes, resuming: %s",
                    sha256,
                    written,
                    error,
                )
                time.sleep(RESUME_DELAY_SECONDS * resumes)


def check_download(job_id: str, planned: PlannedDownload, digest: str, size: int) -> None:
    expected_size = planned.output.size
    problem = None
    if digest != planned.sha256:
        problem = f"its sha256 is {digest}, but the job lists {planned.sha256}"
    elif expected_size and size != expected_size:
        problem = f"it has {size} bytes, but the job lists {expected_size}"
    if problem:
        raise CliError(
            f"downloaded output {planned.path.name} of job {job_id} is corrupt: {problem}. "
            "The partial file was removed; run the command again, and if it fails again the "
            "controller's artifact store is damaged",
            EXIT_FAILED,
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
