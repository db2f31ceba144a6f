"""The commands that read and change stored jobs and agents: jobs, job, cancel, logs, agents."""

from __future__ import annotations

import argparse
import logging
import sys

import grpc

from controller.cli import convert
from controller.cli.client import Controller, resolve_address
from controller.cli.console import print_error, print_json
from controller.cli.errors import EXIT_OK, error_from_rpc
from controller.cli.format import agent_table, format_state, job_detail, job_table
from controller.cli.timeline import timeline, timeline_lines
from controller.joblogs import MAX_LOG_BYTES
from protos import jobs_pb2

logger = logging.getLogger(__name__)

# The controller's page size when ListJobsRequest.limit is 0.
SERVER_PAGE_SIZE = 100


def list_jobs(
    controller: Controller,
    states: list[str],
    limit: int,
    roots_only: bool,
    filters: argparse.Namespace | None = None,
) -> list[jobs_pb2.Job]:
    """Return up to limit jobs, following page tokens until limit is reached.

    filters may carry tag (a list), since and until (seconds since the epoch) and page_token.
    """
    jobs: list[jobs_pb2.Job] = []
    page_token = getattr(filters, "page_token", "") or ""
    while len(jobs) < limit:
        request = jobs_pb2.ListJobsRequest(
            states=[convert.state_value(state) for state in states],
            limit=min(limit - len(jobs), SERVER_PAGE_SIZE),
            page_token=page_token,
            roots_only=roots_only,
            tags=getattr(filters, "tag", None) or [],
        )
        for bound in ("since", "until"):
            value = getattr(filters, bound, None)
            if value is not None:
                getattr(request, bound).FromNanoseconds(round(value * 1e9))
        response = controller.unary(controller.jobs.ListJobs, request, "list jobs")
        jobs.extend(response.jobs)
        page_token = response.next_page_token
        if not page_token or not response.jobs:
            break
    return jobs[:limit]


def run_jobs(args: argparse.Namespace) -> int:
    with Controller(resolve_address(args.controller)) as controller:
        jobs = list_jobs(controller, args.state or [], args.limit, not args.all, args)
    job_dicts = [convert.job_to_dict(job) for job in jobs]
    if args.json:
        print_json(job_dicts)
    elif job_dicts:
        print(job_table(job_dicts))
    else:
        print_error("no jobs match")
    return EXIT_OK


def get_job(controller: Controller, job_id: str) -> jobs_pb2.Job:
    request = jobs_pb2.GetJobRequest(id=job_id)
    job: jobs_pb2.Job = controller.unary(controller.jobs.GetJob, request, f"get job {job_id}")
    return job


def run_job(args: argparse.Namespace) -> int:
    with Controller(resolve_address(args.controller)) as controller:
        message = get_job(controller, args.id)
    job = convert.job_to_dict(message)
    if args.json:
        print_json({**job, "timeline": timeline(message)})
    else:
        print(job_detail(job))
        print("\n".join(timeline_lines(message)))
    return EXIT_OK


def run_cancel(args: argparse.Namespace) -> int:
    request = jobs_pb2.CancelJobRequest(id=args.id, reason=args.reason)
    with Controller(resolve_address(args.controller)) as controller:
        job = convert.job_to_dict(
            controller.unary(controller.jobs.CancelJob, request, f"cancel job {args.id}")
        )
    logger.info("cancel of job %s requested, now %s", args.id, job["state"])
    if args.json:
        print_json(job)
    else:
        print(f"job {job['id']} is {format_state(job)}")
    return EXIT_OK


def run_logs(args: argparse.Namespace) -> int:
    """Write the stored aerender log of one attempt to stdout, byte for byte."""
    request = jobs_pb2.GetJobLogsRequest(id=args.id, attempt=args.attempt)
    action = f"get the log of job {args.id}"
    truncated = False
    output = sys.stdout.buffer
    with Controller(resolve_address(args.controller)) as controller:
        try:
            for chunk in controller.jobs.GetJobLogs(request):
                output.write(chunk.data)
                truncated = truncated or chunk.truncated
        except grpc.RpcError as error:
            raise error_from_rpc(error, controller.address, action) from error
    output.flush()
    if truncated:
        limit = MAX_LOG_BYTES // (1024 * 1024)
        print_error(
            f"the stored log of job {args.id} was cut at the controller's limit of {limit} MiB "
            "per attempt; an agent keeps the full log as aerender.log in the workspace of a "
            "failed lease"
        )
    return EXIT_OK


def run_agents(args: argparse.Namespace) -> int:
    with Controller(resolve_address(args.controller)) as controller:
        response = controller.unary(
            controller.farm.ListAgents, jobs_pb2.ListAgentsRequest(), "list agents"
        )
    agents = [convert.agent_to_dict(agent) for agent in response.agents]
    if args.json:
        print_json(agents)
    elif agents:
        print(agent_table(agents))
    else:
        print_error("no agents have connected to the controller")
    return EXIT_OK
