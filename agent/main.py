"""The aefarm-agent command: run a render agent, or parse an aerender log with `parse-log`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.config import DEFAULT_HANG_TIMEOUT, AgentConfig, default_agent_id
from agent.workspace import DEFAULT_KEEP_FAILED

logger = logging.getLogger(__name__)

CONTROLLER_ENV = "AEFARM_CONTROLLER"


def _engine_entry(text: str) -> tuple[str, str]:
    name, separator, path = text.partition("=")
    if not separator or not name or not path:
        raise argparse.ArgumentTypeError(
            f"invalid --engine {text!r}: use NAME=PATH, for example "
            "ae2026=/Applications/Adobe After Effects 2026/aerender"
        )
    return name, path


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aefarm-agent",
        description="Render After Effects jobs that an aefarm controller hands out. "
        "`aefarm-agent parse-log FILE [--frames N] [--json]` parses an aerender log instead.",
    )
    _add_connection_flags(parser)
    _add_render_flags(parser)
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: info)",
    )
    return parser


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--controller",
        default=os.environ.get(CONTROLLER_ENV),
        metavar="HOST:PORT",
        help=f"gRPC address of the controller (default: ${CONTROLLER_ENV})",
    )
    parser.add_argument(
        "--work-dir",
        required=True,
        type=Path,
        help="folder for workspaces, the result outbox and the cache; keep its path short",
    )
    parser.add_argument(
        "--agent-id", help="id of this agent (default: host name and a hash of --work-dir)"
    )
    parser.add_argument(
        "--pool", action="append", default=[], metavar="NAME", help="pool to join; repeatable"
    )


def _add_render_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="run the aerender simulator for every engine (ae2025, ae2026) instead of "
        "After Effects",
    )
    parser.add_argument(
        "--slots", type=_positive, default=1, help="leases rendered at once (default: 1)"
    )
    parser.add_argument(
        "--engine",
        action="append",
        type=_engine_entry,
        default=[],
        metavar="NAME=PATH",
        help="aerender binary of an engine, overriding discovery; repeatable",
    )
    parser.add_argument(
        "--file-root",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="folder that file:// sources may read from; repeatable (default: any folder)",
    )
    parser.add_argument(
        "--keep-failed",
        type=int,
        default=DEFAULT_KEEP_FAILED,
        metavar="N",
        help=f"workspaces of failed leases kept for inspection (default: {DEFAULT_KEEP_FAILED})",
    )
    parser.add_argument(
        "--mfr-cpu-percent",
        type=int,
        choices=range(1, 101),
        default=100,
        metavar="PCT",
        help="maximum CPU percent for Multi-Frame Rendering on AE 2022 and later (default: 100)",
    )
    parser.add_argument(
        "--hang-timeout",
        type=float,
        default=DEFAULT_HANG_TIMEOUT,
        metavar="SECONDS",
        help="seconds without aerender output before a render counts as hung, for jobs that "
        f"set no limit (default: {DEFAULT_HANG_TIMEOUT:.0f})",
    )


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    work_dir = args.work_dir.resolve()
    return AgentConfig(
        controller=args.controller,
        work_dir=work_dir,
        agent_id=args.agent_id or default_agent_id(work_dir),
        slots=args.slots,
        pools=tuple(args.pool),
        engines=dict(args.engine),
        file_roots=tuple(args.file_root),
        simulate=args.simulate,
        keep_failed_workspaces=args.keep_failed,
        mfr_cpu_percent=args.mfr_cpu_percent,
        hang_timeout=args.hang_timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["parse-log"]:
        from agent import parse_log_cmd

        return parse_log_cmd.main(arguments[1:])

    parser = build_parser()
    args = parser.parse_args(arguments)
    if not args.controller:
        parser.error(f"--controller is required when ${CONTROLLER_ENV} is not set")
    from agent.lease_context import configure_logging

    configure_logging(args.log_level)
    config = config_from_args(args)
    config.work_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(config))
    return 0


async def serve(config: AgentConfig) -> None:
    """Run the agent until SIGTERM or SIGINT."""
    from agent.daemon import RenderAgent
    from agent.engine_config import installed_engines, simulated_engines
    from agent.fonts import installed_font_families
    from agent.proctree import become_subreaper

    if become_subreaper():
        logger.info("this agent adopts orphaned render processes, so none outlives it")
    shutdown = asyncio.Event()
    _install_signal_handlers(shutdown)

    if config.simulate:
        logger.warning("--simulate: every engine runs the aerender simulator, not After Effects")
        engines = simulated_engines()
    else:
        engines = await installed_engines(config.engines, config.engines_cache_file)
    fonts = await asyncio.to_thread(installed_font_families)
    await RenderAgent(config, engines, fonts=fonts).run(shutdown)


def _install_signal_handlers(shutdown: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def request_shutdown(name: str) -> None:
        if not shutdown.is_set():
            logger.info("%s received: shutting down", name)
        shutdown.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, request_shutdown, signum.name)
        except NotImplementedError:
            # Windows event loops have no add_signal_handler.
            signal.signal(
                signum,
                lambda number, frame: loop.call_soon_threadsafe(
                    request_shutdown, signal.Signals(number).name
                ),
            )


if __name__ == "__main__":
    sys.exit(main())
