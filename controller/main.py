"""aefarm-controller: run the controller until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

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
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
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
    logging.getLogger().setLevel(args.log_level.upper())
    return ControllerConfig(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        heartbeat_interval=args.heartbeat_interval,
        lease_grace=args.lease_grace,
        max_attempts=args.max_attempts,
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

    failed = asyncio.create_task(server.failed.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
    failed.cancel()
    stopped.cancel()
    await server.stop()
    return 1 if server.failed.is_set() else 0


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = parse_args(argv)
    sys.exit(asyncio.run(serve(config)))


if __name__ == "__main__":
    main()
