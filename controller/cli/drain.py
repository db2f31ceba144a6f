"""The commands that take an agent out of dispatch and back: drain and resume."""

from __future__ import annotations

import argparse
import logging

from controller.cli import convert
from controller.cli.client import Controller, resolve_address
from controller.cli.console import print_json
from controller.cli.errors import EXIT_OK
from controller.cli.format import format_agent_state
from protos import jobs_pb2

logger = logging.getLogger(__name__)

DRAIN_DESCRIPTION = (
    "Drain a render agent: it finishes the renders it runs and gets no new leases, also after "
    "it reconnects or the controller restarts, until `aefarm resume`."
)
RESUME_DESCRIPTION = (
    "Resume a drained or quarantined render agent: it takes new leases again. An agent is "
    "quarantined after it failed several different jobs in a row; `aefarm agents` shows why."
)


def run_drain(args: argparse.Namespace) -> int:
    with Controller(resolve_address(args.controller)) as controller:
        request = jobs_pb2.DrainAgentRequest(agent_id=args.agent_id)
        agent = controller.unary(
            controller.farm.DrainAgent, request, f"drain agent {args.agent_id}"
        )
    return _print_agent(args, agent)


def run_resume(args: argparse.Namespace) -> int:
    with Controller(resolve_address(args.controller)) as controller:
        request = jobs_pb2.ResumeAgentRequest(agent_id=args.agent_id)
        agent = controller.unary(
            controller.farm.ResumeAgent, request, f"resume agent {args.agent_id}"
        )
    return _print_agent(args, agent)


def _print_agent(args: argparse.Namespace, agent: jobs_pb2.AgentInfo) -> int:
    info = convert.agent_to_dict(agent)
    if args.json:
        print_json(info)
    else:
        running = len(info["running"])
        print(f"{info['id']}: {format_agent_state(info)}; {running} running leases")
    return EXIT_OK
