"""The submit and validate commands."""

from __future__ import annotations

import argparse
import logging

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controller.cli import convert
from controller.cli.client import CALL_TIMEOUT_SECONDS, Controller, resolve_address
from controller.cli.console import print_error, print_json, print_json_line
from controller.cli.display import SilentDisplay, choose_display
from controller.cli.errors import EXIT_INVALID, EXIT_OK, error_from_rpc, status_code
from controller.cli.format import submit_tree
from controller.cli.jobfile import InvalidJob, JobFile, check_job, read_job_file
from controller.cli.watch import RetryPolicy, exit_code_for, follow_job, print_finished
from protos import jobs_pb2

logger = logging.getLogger(__name__)


def run_submit(args: argparse.Namespace) -> int:
    job_file = read_job_file(args.file)
    if isinstance(job_file.document, list):
        # A JSON array is a batch: every job in one transaction.
        from controller.cli.batch import run_batch_files

        return run_batch_files(args, [job_file])
    with Controller(resolve_address(args.controller)) as controller:
        try:
            response = submit_job(controller, job_file)
        except InvalidJob as error:
            if args.json:
                print_json_line({"problems": problem_dicts(error)})
            raise
        submitted = convert.submit_response_to_dict(response)
        if args.json:
            print_json_line(submitted)
        else:
            print(f"submitted job {response.job.id}")
            print(submit_tree(submitted["job"], submitted["children"]))
        if not args.wait:
            return EXIT_OK

        display = SilentDisplay() if args.json else choose_display(json_lines=False)
        retry = RetryPolicy(window_seconds=args.reconnect_timeout)
        root = follow_job(controller, response.job.id, display, retry, connected=True)

    if args.json:
        print_json_line(root)
    else:
        print_finished(root)
    return exit_code_for(root)


def submit_job(controller: Controller, job_file: JobFile) -> jobs_pb2.SubmitResponse:
    """Submit a job; raises InvalidJob with every problem when the controller rejects it."""
    request = jobs_pb2.SubmitRequest(job_json=job_file.to_json(), source=job_file.source)
    try:
        response: jobs_pb2.SubmitResponse = controller.jobs.Submit(
            request, timeout=CALL_TIMEOUT_SECONDS
        )
    except grpc.RpcError as error:
        if status_code(error) is grpc.StatusCode.INVALID_ARGUMENT:
            summary = f"the controller at {controller.address} rejected job {job_file.source}"
            raise InvalidJob(summary, bad_request_problems(error)) from error
        raise error_from_rpc(error, controller.address, f"submit {job_file.source}") from error
    logger.info("submitted job %s from %s", response.job.id, job_file.source)
    return response


def bad_request_problems(error: grpc.RpcError) -> list[tuple[str, str]]:
    """Return (JSON path, reason) of every field violation in the error's BadRequest detail.

    Without such a detail the status message is the one problem, at the document root "$".
    """
    problems: list[tuple[str, str]] = []
    status = rpc_status.from_call(error)
    if status is not None:
        for detail in status.details:
            if not detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                continue
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            problems.extend(
                (violation.field or "$", violation.description)
                for violation in bad_request.field_violations
            )
    if not problems:
        details = error.details() if callable(getattr(error, "details", None)) else ""
        problems.append(("$", details or "the controller rejected the job without a reason"))
    return problems


def problem_dicts(error: InvalidJob) -> list[dict[str, str]]:
    return [{"path": path, "reason": reason} for path, reason in error.problems]


def run_validate(args: argparse.Namespace) -> int:
    """Check a job offline with the controller's parser and print `valid` or every problem."""
    try:
        job_file = read_job_file(args.file)
        spec = check_job(job_file)
    except InvalidJob as error:
        if args.json:
            print_json({"valid": False, "problems": problem_dicts(error)})
        else:
            for line in error.detail_lines:
                print(line)
            print_error(error.message)
        return EXIT_INVALID

    if args.json:
        print_json({"valid": True, "problems": [], "spec": spec.model_dump(mode="json")})
    else:
        print("valid")
    return EXIT_OK
