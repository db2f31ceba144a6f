"""The aefarm command line: argument parsing and dispatch to the command modules."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence

from controller.cli import (
    artifacts,
    batch,
    certs,
    drain,
    jobs,
    output,
    submit,
    templates,
    timefilter,
    tokens,
    up,
    watch,
)
from controller.cli.client import ADDRESS_ENV, DEFAULT_ADDRESS
from controller.cli.console import print_error
from controller.cli.convert import STATE_NAMES
from controller.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, CliError

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]

UP_DESCRIPTION = """\
Run a controller on 127.0.0.1 and N render agents as child processes until Ctrl-C or \
SIGTERM. Their logs go to DATA_DIR/logs. On stop, the agents get SIGTERM first and the \
controller after them; a process still running after --stop-grace seconds is killed.

An agent that exits on its own is reported with its exit code and is not restarted; the \
rest of the farm keeps running. When the controller exits, the agents are stopped and up \
exits with 1."""

EXIT_CODES_HELP = """exit codes:
  0  success (for submit --wait and watch: the job finished)
  1  the job failed or was cancelled, or the controller refused the request
  2  invalid job or invalid command line
  3  the controller is unreachable"""


def bounded_int(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" to {maximum}" if maximum is not None else " or more"
            raise argparse.ArgumentTypeError(f"{value} is out of range: use {minimum}{upper}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def controller_parent(default: str | None) -> argparse.ArgumentParser:
    """Return the parser of --controller, which is accepted before and after the command."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--controller",
        metavar="HOST:PORT",
        default=default,
        help=f"address of the controller (default: ${ADDRESS_ENV}, else {DEFAULT_ADDRESS})",
    )
    return parent


def json_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parent


def reconnect_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--reconnect-timeout",
        metavar="SECONDS",
        type=positive_seconds,
        default=watch.RECONNECT_WINDOW_SECONDS,
        help="seconds to keep reopening a broken watch stream before exiting with 3 "
        f"(default: {watch.RECONNECT_WINDOW_SECONDS:g})",
    )
    return parent


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    summary: str,
    parents: Sequence[argparse.ArgumentParser],
    description: str | None = None,
) -> argparse.ArgumentParser:
    paragraphs = (description or summary[0].upper() + summary[1:] + ".").split("\n\n")
    parser = commands.add_parser(
        name,
        help=summary,
        description="\n\n".join(textwrap.fill(paragraph, 78) for paragraph in paragraphs),
        parents=list(parents),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def add_up(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        commands,
        "up",
        up.run_up,
        "run a controller and render agents on this machine until Ctrl-C",
        [],
        description=UP_DESCRIPTION,
    )
    parser.add_argument(
        "--agents",
        type=bounded_int(0),
        default=1,
        metavar="N",
        help="number of agents to start (default: 1)",
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="agents render with the aerender simulator instead of the installed After Effects",
    )
    parser.add_argument(
        "--port",
        type=bounded_int(0, 65535),
        default=8470,
        help="TCP port of the controller on 127.0.0.1; 0 picks a free port (default: 8470)",
    )
    parser.add_argument(
        "--data-dir",
        default=".aefarm",
        metavar="DIR",
        help="folder for the controller's store, the agents' work folders and the logs "
        "(default: ./.aefarm)",
    )
    parser.add_argument(
        "--slots",
        type=bounded_int(1),
        metavar="N",
        help="renders each agent runs at once (default: the agent's default)",
    )
    parser.add_argument(
        "--file-root",
        action="append",
        metavar="DIR",
        help="folder whose files agents may read through file:// sources; repeat for more "
        "(default: the current folder)",
    )
    add_up_timing_options(parser)


def add_up_timing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heartbeat-interval",
        type=positive_seconds,
        metavar="SECONDS",
        help="seconds between agent heartbeats (default: the controller's default)",
    )
    parser.add_argument(
        "--lease-grace",
        type=positive_seconds,
        metavar="SECONDS",
        help="seconds the controller keeps a lease without a heartbeat before it requeues "
        "the job (default: the controller's default)",
    )
    parser.add_argument(
        "--stop-grace",
        type=positive_seconds,
        metavar="SECONDS",
        default=10.0,
        help="seconds each process gets to stop after SIGTERM before it is killed (default: 10)",
    )


def add_submit_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    address: argparse.ArgumentParser,
) -> None:
    as_json = json_parent()

    parser = add_command(
        commands,
        "submit",
        submit.run_submit,
        "submit a job file and print the ids of the job and its children",
        [address, as_json, reconnect_parent()],
        description="Submit a job file. Local paths in its sources become file:// URIs "
        "resolved against the file's folder (the current folder for stdin).",
    )
    parser.add_argument("file", metavar="FILE", help="job JSON file, or - for stdin")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the job tree until the job is final; exit 0 only if it finished",
    )

    parser = add_command(
        commands,
        "validate",
        submit.run_validate,
        "check a job file offline, without a controller",
        [as_json],
    )
    parser.add_argument("file", metavar="FILE", help="job JSON file, or - for stdin")


def add_job_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    address: argparse.ArgumentParser,
) -> None:
    as_json = json_parent()

    parser = add_command(
        commands,
        "jobs",
        jobs.run_jobs,
        "list root jobs, or with --all every job, in the controller's order",
        [address, as_json],
    )
    parser.add_argument(
        "--state",
        action="append",
        choices=STATE_NAMES,
        help="show only jobs in this state; repeat for more states",
    )
    parser.add_argument("--all", action="store_true", help="include child jobs, not only roots")
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        help="show only jobs with this tag; repeat to require more tags",
    )
    parser.add_argument(
        "--since",
        type=timefilter.parse_time,
        help="show only jobs created at or after this time (ISO 8601, or an age: 30m, 2h, 7d)",
    )
    parser.add_argument(
        "--until", type=timefilter.parse_time, help="show only jobs created before this time"
    )
    parser.add_argument(
        "--page-token",
        default="",
        help="start after the jobs of an earlier page (the next_page_token --json printed)",
    )
    parser.add_argument(
        "--limit",
        type=bounded_int(1),
        default=100,
        metavar="N",
        help="maximum number of jobs shown (default: 100)",
    )

    parser = add_command(
        commands, "job", jobs.run_job, "show one job in detail", [address, as_json]
    )
    parser.add_argument("id", metavar="ID", help="job id")

    parser = add_command(
        commands,
        "watch",
        watch.run_watch,
        "follow a job and its children until the job is final",
        [address, as_json, reconnect_parent()],
        description="Follow a job tree until the job is final. --json prints every event "
        "as one JSON line.",
    )
    parser.add_argument("id", metavar="ID", help="job id")

    parser = add_command(
        commands,
        "cancel",
        jobs.run_cancel,
        "cancel a job and its unfinished children",
        [address, as_json],
    )
    parser.add_argument("id", metavar="ID", help="job id")
    parser.add_argument(
        "--reason", default="", help="why the job is cancelled, stored in its history"
    )


def add_farm_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    address: argparse.ArgumentParser,
) -> None:
    as_json = json_parent()

    parser = add_command(
        commands,
        "output",
        output.run_output,
        "download a finished job's outputs and print their paths, the main output last",
        [address, as_json],
    )
    parser.add_argument("id", metavar="ID", help="job id")
    parser.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        default=".",
        help="folder the outputs are written to, created if missing (default: .)",
    )

    add_command(commands, "agents", jobs.run_agents, "list render agents", [address, as_json])
    add_agent_control_commands(commands, address, as_json)

    parser = add_command(
        commands,
        "logs",
        jobs.run_logs,
        "print the stored aerender log of one attempt of a job",
        [address],
    )
    parser.add_argument("id", metavar="ID", help="job id")
    parser.add_argument(
        "--attempt",
        type=bounded_int(1),
        default=0,
        metavar="N",
        help="attempt number, starting at 1 (default: the latest attempt)",
    )


def add_agent_control_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    address: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
) -> None:
    for name, handler, summary, description in (
        ("drain", drain.run_drain, "stop giving an agent new leases", drain.DRAIN_DESCRIPTION),
        (
            "resume",
            drain.run_resume,
            "end an agent's drain or quarantine",
            drain.RESUME_DESCRIPTION,
        ),
    ):
        parser = add_command(commands, name, handler, summary, [address, as_json], description)
        parser.add_argument("agent_id", metavar="AGENT", help="agent id, as `aefarm agents` lists")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aefarm",
        description="Admin CLI of the aefarm render farm for Adobe After Effects.",
        parents=[controller_parent(None)],
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what the CLI does to stderr"
    )
    parser.add_argument(
        "--tls-ca",
        metavar="FILE",
        help="connect with TLS, trusting the controller certificates this CA issued "
        "(default: $AEFARM_TLS_CA, else no TLS); $AEFARM_TOKEN or $AEFARM_TOKEN_FILE give "
        "the token",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # SUPPRESS keeps a --controller given before the command when none follows it.
    address = controller_parent(argparse.SUPPRESS)
    add_up(commands)
    add_submit_commands(commands, address)
    add_job_commands(commands, address)
    add_farm_commands(commands, address)
    batch.add_batch_commands(commands, add_command, [address, json_parent()])
    artifacts.add_artifact_commands(commands, add_command, [address, json_parent()])
    templates.add_template_commands(commands, address, json_parent())
    certs.add_certs_command(commands)
    tokens.add_token_command(commands, address, json_parent())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tls_ca:
        # The channel of every command reads its TLS settings from the environment.
        os.environ["AEFARM_TLS_CA"] = args.tls_ca
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except CliError as error:
        print_error(f"aefarm {args.command}: {error.message}")
        for line in error.detail_lines:
            print_error(line)
        return error.exit_code
    except KeyboardInterrupt:
        print_error(f"aefarm {args.command}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away, as with `aefarm jobs | head`, so stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
