"""`aefarm artifacts prune`: remove stored outputs by age or by the store's total size."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from controller.cli.client import Controller, resolve_address
from controller.cli.console import print_json
from controller.cli.errors import EXIT_INVALID, EXIT_OK, CliError
from protos import artifacts_pb2

logger = logging.getLogger(__name__)

PRUNE_DESCRIPTION = (
    "Remove files from the controller's artifact store: those stored more than --older-than "
    "days ago, then the oldest until the rest take at most --max-size GB. A file that a job of "
    "an unfinished tree lists as an output or input is never removed. Prints each removed file "
    "and the bytes freed; with --dry-run, what would be removed."
)


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g} is negative: give 0 or more")
    return value


def add_artifact_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add_command: Callable[..., argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add `artifacts prune`; parents give --controller and --json."""
    parser = add_command(
        commands,
        "artifacts",
        lambda args: args.artifacts_handler(args),
        "manage the controller's artifact store",
        [],
    )
    actions = parser.add_subparsers(dest="artifacts_command", metavar="ACTION", required=True)
    prune = actions.add_parser(
        "prune", parents=parents, help="remove old stored files", description=PRUNE_DESCRIPTION
    )
    prune.add_argument(
        "--older-than",
        type=_not_negative,
        metavar="DAYS",
        help="remove files stored more than DAYS days ago",
    )
    prune.add_argument(
        "--max-size",
        type=_not_negative,
        metavar="GB",
        help="remove the oldest files until the rest take at most GB gigabytes (GiB)",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="print what would be removed, remove nothing"
    )
    prune.set_defaults(artifacts_handler=run_prune)


def run_prune(args: argparse.Namespace) -> int:
    if args.older_than is None and args.max_size is None:
        raise CliError("give --older-than DAYS, --max-size GB or both", EXIT_INVALID)
    request = artifacts_pb2.PruneRequest(dry_run=args.dry_run)
    if args.older_than is not None:
        request.older_than_days = args.older_than
    if args.max_size is not None:
        request.max_size_gb = args.max_size
    with Controller(resolve_address(args.controller)) as controller:
        response = controller.unary(controller.artifacts.Prune, request, "prune artifacts")
    if args.json:
        print_json(
            {
                "dry_run": response.dry_run,
                "bytes_freed": response.bytes_freed,
                "removed": [_entry(entry) for entry in response.removed],
            }
        )
        return EXIT_OK
    verb = "would remove" if response.dry_run else "removed"
    for entry in response.removed:
        stored = datetime.fromtimestamp(entry.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        print(
            f"{verb} {entry.sha256} {entry.names} ({entry.size} bytes, job {entry.job_id or '-'}, "
            f"stored {stored} UTC): {entry.reason}"
        )
    print(f"{verb} {len(response.removed)} files, {response.bytes_freed} bytes")
    return EXIT_OK


def _entry(entry: artifacts_pb2.PrunedArtifact) -> dict[str, object]:
    return {
        "sha256": entry.sha256,
        "names": entry.names.split(",") if entry.names else [],
        "size": entry.size,
        "job_id": entry.job_id,
        "created_at": entry.created_at,
        "reason": entry.reason,
    }
