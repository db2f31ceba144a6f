"""aefarm-controller: run the controller until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from controller import config as settings
from controller import logformat, options, retention, sdnotify, webhooks
from controller.cli import tokens
from controller.server import ControllerConfig, ControllerServer

logger = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")


def parse_args(argv: list[str] | None) -> ControllerConfig:
    parser = argparse.ArgumentParser(
        prog="aefarm-controller",
        description="Run the aefarm controller: the job store, the scheduler and the gRPC API.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8470, help="TCP port; 0 picks a free one (default: 8470)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="folder of the store, artifacts, logs and controller.json",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=5.0,
        help="seconds between agent heartbeats, sent to each agent (default: 5)",
    )
    parser.add_argument(
        "--lease-grace",
        type=float,
        default=30.0,
        help="seconds a lease lives without a heartbeat before its job is requeued (default: 30)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="attempts a job gets before a retryable failure fails it (default: 3)",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=2.0,
        help="seconds before the retry after attempt 1; doubles with each attempt, up to "
        "--retry-delay-max; 0 retries at once (default: 2)",
    )
    parser.add_argument(
        "--retry-delay-max",
        type=float,
        default=60.0,
        help="maximum wait before a retry, in seconds (default: 60)",
    )
    parser.add_argument(
        "--quarantine-after",
        type=int,
        default=3,
        help="an agent that fails this many different jobs in a row gets no new leases until "
        "`aefarm resume`; 0 never quarantines (default: 3)",
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    webhooks.add_arguments(parser)
    retention.add_arguments(parser)
    options.add_arguments(parser)
    settings.add_config_argument(parser)
    settings.apply_settings(parser, argv)
    args = parser.parse_args(argv)

    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number from 0 to 65535")
    if args.heartbeat_interval <= 0:
        parser.error(f"--heartbeat-interval {args.heartbeat_interval:g} must be above 0 seconds")
    if args.lease_grace <= args.heartbeat_interval:
        parser.error(
            f"--lease-grace {args.lease_grace:g} must be longer than --heartbeat-interval "
            f"{args.heartbeat_interval:g}, or leases expire between two heartbeats"
        )
    if args.max_attempts < 1:
        parser.error(f"--max-attempts {args.max_attempts} must be at least 1")
    if args.retry_delay < 0 or args.retry_delay_max < args.retry_delay:
        parser.error(
            f"--retry-delay {args.retry_delay:g} must be 0 or more and at most "
            f"--retry-delay-max {args.retry_delay_max:g}"
        )
    if args.quarantine_after < 0:
        parser.error(f"--quarantine-after {args.quarantine_after} must be 0 (never) or more")
    logformat.configure(args.log_format, args.log_level)
    return ControllerConfig(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        heartbeat_interval=args.heartbeat_interval,
        lease_grace=args.lease_grace,
        max_attempts=args.max_attempts,
        retry_delay=args.retry_delay,
        retry_delay_max=args.retry_delay_max,
        quarantine_after=args.quarantine_after,
        webhooks=webhooks.config_from_args(args),
        retention=retention.config_from_args(args),
        access=options.access_from_args(parser, args),
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        watch_folder=args.watch_folder,
    )


async def serve(config: ControllerConfig) -> int:
    """Run the server until a stop signal (exit 0) or a store failure (exit 1)."""
    server = ControllerServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        # NOTE: Windows event loops take no signal handlers; Ctrl+C ends asyncio.run there.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop.set)
    try:
        await server.start()
    except (OSError, RuntimeError) as error:
        logger.error("the controller could not start: %s", error)
        await server.stop()
        return 1

    sdnotify.notify("READY=1")
    watchdog = asyncio.create_task(sdnotify.ping_watchdog())
    failed = asyncio.create_task(server.failed.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
    failed.cancel()
    stopped.cancel()
    sdnotify.notify("STOPPING=1")
    watchdog.cancel()
    await server.stop()
    return 1 if server.failed.is_set() else 0


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["token"]:
        sys.exit(tokens.run_offline(arguments[1:]))
    checking = arguments[:1] == ["check-config"]
    config = parse_args(arguments[1:] if checking else arguments)
    if checking:
        print(settings.describe(config))
        sys.exit(0)
    sys.exit(asyncio.run(serve(config)))


if __name__ == "__main__":
    main()
