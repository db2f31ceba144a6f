"""The batch and priority commands: submit many jobs at once, track and cancel them together.

`aefarm batch submit FILE...` sends every job of the files in one SubmitBatch call; a file may
hold one job object or a JSON array of jobs. `aefarm submit FILE` does the same when FILE holds
an array. `aefarm priority ID N` changes a waiting job's priority.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from controller.cli import convert
from controller.cli.client import Controller, resolve_address
from controller.cli.console import print_json
from controller.cli.errors import EXIT_OK, error_from_rpc, status_code
from controller.cli.jobfile import InvalidJob, JobFile, read_job_file, resolve_sources
from controller.cli.submit import bad_request_problems
from controller.jobspec.limits import INT32_MAX
from protos import batches_pb2, batches_pb2_grpc, jobs_pb2

logger = logging.getLogger(__name__)

CALL_TIMEOUT_SECONDS = 60.0


def batch_jobs(job_files: Sequence[JobFile]) -> list[str]:
    """Every job of the files as JSON text, local sources resolved against each file's folder."""
    texts = []
    for job_file in job_files:
        documents = job_file.document if isinstance(job_file.document, list) else [job_file]
        for document in documents:
            if isinstance(document, JobFile):
                texts.append(document.to_json())
            elif isinstance(document, dict):
                resolved = resolve_sources(document, job_file.base_dir, job_file.source)
                texts.append(json.dumps(resolved))
            else:
                texts.append(json.dumps(document))
    return texts


def submit_batch(controller: Controller, texts: list[str], source: str) -> batches_pb2.Batch:
    stub = batches_pb2_grpc.BatchServiceStub(controller.channel)
    request = batches_pb2.SubmitBatchRequest(job_json=texts, source=source)
    try:
        batch: batches_pb2.Batch = stub.SubmitBatch(request, timeout=CALL_TIMEOUT_SECONDS)
    except grpc.RpcError as error:
        if status_code(error) is grpc.StatusCode.INVALID_ARGUMENT:
            summary = f"the controller at {controller.address} rejected the batch {source}"
            raise InvalidJob(summary, bad_request_problems(error)) from error
        raise error_from_rpc(error, controller.address, f"submit the batch {source}") from error
    return batch


def batch_to_dict(batch: batches_pb2.Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "created_at": MessageToDict(batch).get("createdAt"),
        "job_ids": list(batch.job_ids),
        "counts": {count.state: count.count for count in batch.counts},
        "jobs": [convert.job_to_dict(job) for job in batch.jobs],
    }


def print_batch(batch: batches_pb2.Batch, as_json: bool) -> None:
    if as_json:
        print_json(batch_to_dict(batch))
        return
    counts = ", ".join(f"{count.count} {count.state}" for count in batch.counts) or "no jobs"
    print(f"batch {batch.id}: {len(batch.job_ids)} jobs ({counts})")
    for job in batch.jobs:
        print(f"  {job.id}  {convert.job_to_dict(job)['state']}")


def run_batch_submit(args: argparse.Namespace) -> int:
    return run_batch_files(args, [read_job_file(name) for name in args.files])


def run_batch_files(args: argparse.Namespace, files: list[JobFile]) -> int:
    source = ", ".join(job_file.source for job_file in files)
    with Controller(resolve_address(args.controller)) as controller:
        batch = submit_batch(controller, batch_jobs(files), source)
    print_batch(batch, args.json)
    return EXIT_OK


def run_batch_show(args: argparse.Namespace) -> int:
    request = batches_pb2.GetBatchRequest(id=args.id)
    with Controller(resolve_address(args.controller)) as controller:
        stub = batches_pb2_grpc.BatchServiceStub(controller.channel)
        batch = controller.unary(stub.GetBatch, request, f"show batch {args.id}")
    print_batch(batch, args.json)
    return EXIT_OK


def run_batch_cancel(args: argparse.Namespace) -> int:
    request = batches_pb2.CancelBatchRequest(id=args.id, reason=args.reason)
    with Controller(resolve_address(args.controller)) as controller:
        stub = batches_pb2_grpc.BatchServiceStub(controller.channel)
        batch = controller.unary(stub.CancelBatch, request, f"cancel batch {args.id}")
    print_batch(batch, args.json)
    return EXIT_OK


def priority_value(text: str) -> int:
    """Parse a priority; the job service stores it as a 32-bit integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if abs(value) > INT32_MAX:
        raise argparse.ArgumentTypeError(
            f"{value} is out of range; give a number from {-INT32_MAX} to {INT32_MAX}"
        )
    return value


def run_priority(args: argparse.Namespace) -> int:
    request = jobs_pb2.SetPriorityRequest(id=args.id, priority=args.priority)
    with Controller(resolve_address(args.controller)) as controller:
        job = controller.unary(
            controller.jobs.SetPriority, request, f"set the priority of job {args.id}"
        )
    if args.json:
        print_json(convert.job_to_dict(job))
    else:
        print(f"job {job.id}: priority {job.priority}")
    return EXIT_OK


def add_batch_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add_command: Callable[..., argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add `batch submit|show|cancel` and `priority`; parents give --controller and --json."""
    parser = add_command(
        commands,
        "batch",
        lambda args: args.batch_handler(args),
        "submit many jobs at once, show a batch's counts by state, or cancel it",
        [],
    )
    actions = parser.add_subparsers(dest="batch_command", metavar="ACTION", required=True)
    submit = actions.add_parser(
        "submit", parents=parents, help="submit every job of the files in one transaction"
    )
    submit.add_argument("files", nargs="+", metavar="FILE", help="a job or a JSON array of jobs")
    submit.set_defaults(batch_handler=run_batch_submit)
    show = actions.add_parser("show", parents=parents, help="show a batch's jobs by state")
    show.add_argument("id", metavar="ID", help="batch id")
    show.set_defaults(batch_handler=run_batch_show)
    cancel = actions.add_parser("cancel", parents=parents, help="cancel every unfinished job")
    cancel.add_argument("id", metavar="ID", help="batch id")
    cancel.add_argument("--reason", default="", help="why, stored in each job's history")
    cancel.set_defaults(batch_handler=run_batch_cancel)

    parser = add_command(
        commands,
        "priority",
        run_priority,
        "change the priority of a pending or queued job (higher renders first)",
        parents,
    )
    parser.add_argument("id", metavar="ID", help="job id")
    parser.add_argument(
        "priority", metavar="N", type=priority_value, help="the new priority, a 32-bit integer"
    )
