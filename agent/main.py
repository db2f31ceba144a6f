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

from agent import settings
from agent.cache import MIB
from agent.codecs import CatalogError, load_catalog
from agent.config import (
    DEFAULT_HANG_TIMEOUT,
    DEFAULT_STUCK_EXIT_GRACE,
    AgentConfig,
    default_agent_id,
)
from agent.input_options import add_input_flags, input_options_from_args
from agent.workspace import DEFAULT_KEEP_FAILED

logger = logging.getLogger(__name__)

CONTROLLER_ENV = "AEFARM_CONTROLLER"
DEFAULT_DRAIN_GRACE = 600.0


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
    add_input_flags(parser)
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: info)",
    )
    settings.add_service_arguments(parser)
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
        help="folder that file:// sources and local paths may read from; repeatable "
        "(default: none, so local sources are refused)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write every output to DIR/<job id>/<name> and report its file:// URL instead of "
        "uploading it to the controller; a job's own upload wins; path mapping rules apply "
        "(default: none, so outputs go to the controller)",
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
    parser.add_argument(
        "--drain-grace",
        type=float,
        default=DEFAULT_DRAIN_GRACE,
        metavar="SECONDS",
        help="on SIGTERM, seconds to let running renders finish before they are stopped and "
        "requeued; a second SIGTERM or SIGINT stops them at once "
        f"(default: {DEFAULT_DRAIN_GRACE:.0f}, the systemd unit's TimeoutStopSec less 30)",
    )
    parser.add_argument(
        "--stuck-exit-grace",
        type=float,
        default=DEFAULT_STUCK_EXIT_GRACE,
        metavar="SECONDS",
        help="seconds aerender may take to exit after the composition finished and the output "
        "stopped growing; then its tree is stopped and the render completes "
        f"(default: {DEFAULT_STUCK_EXIT_GRACE:.0f})",
    )
    parser.add_argument(
        "--codec-catalog",
        type=Path,
        metavar="FILE",
        help="JSON file of codec catalog entries (codec id -> output_module, extension, "
        "encode) that add to or replace the built-in codecs; see docs/aerender.md",
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
        output_dir=_output_dir(args),
        cache_max_bytes=args.cache_size * MIB,
        inputs=input_options_from_args(args),
        simulate=args.simulate,
        keep_failed_workspaces=args.keep_failed,
        mfr_cpu_percent=args.mfr_cpu_percent,
        hang_timeout=args.hang_timeout,
        stuck_exit_grace=args.stuck_exit_grace,
        codec_catalog_file=args.codec_catalog,
        drain_grace=args.drain_grace,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        token_file=args.token_file,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
    )


def _output_dir(args: argparse.Namespace) -> Path | None:
    """Return --output-dir as an absolute path after the path mapping rules.

    Logs a warning when no file root contains it, because a parent job on this agent then
    cannot read its children's outputs.
    """
    if args.output_dir is None:
        return None
    try:
        folder = input_options_from_args(args).path_mapper().local_path(str(args.output_dir))
    except ValueError as error:
        raise SystemExit(f"--output-dir {args.output_dir}: {error}") from error
    folder = folder.expanduser().absolute()
    roots = [Path(root).expanduser().absolute() for root in args.file_root]
    if not any(folder.is_relative_to(root) for root in roots):
        logger.warning(
            "--output-dir %s is in no --file-root, so a parent job on this agent cannot read "
            "the outputs of its children; add --file-root %s",
            folder,
            folder,
        )
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["parse-log"]:
        from agent import parse_log_cmd

        return parse_log_cmd.main(arguments[1:])

    parser = build_parser()
    checking = arguments[:1] == ["check-config"]
    if checking:
        arguments = arguments[1:]
    settings.apply_settings(parser, arguments)
    args = parser.parse_args(arguments)
    if not args.controller:
        parser.error(f"--controller is required when ${CONTROLLER_ENV} is not set")
    settings.check_service_arguments(parser, args)
    from agent import logformat

    logformat.configure(args.log_format, args.log_level)
    config = config_from_args(args)
    if checking:
        print(settings.describe(config))
        return 0
    try:
        load_catalog(config.codec_catalog_file)
    except CatalogError as error:
        parser.error(str(error))
    config.work_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(config))
    return 0


async def serve(config: AgentConfig) -> None:
    """Run the agent until SIGTERM or SIGINT."""
    from agent import sdnotify
    from agent.connection import ChannelSettings
    from agent.daemon import RenderAgent
    from agent.metrics import AgentMetrics
    from agent.tls import ChannelSecurity, read_token

    token = os.environ.get("AEFARM_TOKEN", "")
    from agent.engine_config import installed_engines, simulated_engines
    from agent.fonts import installed_font_families
    from agent.proctree import become_subreaper

    if become_subreaper():
        logger.info("this agent adopts orphaned render processes, so none outlives it")
    shutdown = asyncio.Event()
    hurry = asyncio.Event()
    _install_signal_handlers(shutdown, hurry)

    if config.simulate:
        logger.warning("--simulate: every engine runs the aerender simulator, not After Effects")
        engines = simulated_engines()
    else:
        engines = await installed_engines(config.engines, config.engines_cache_file)
    fonts = await asyncio.to_thread(installed_font_families)
    security = ChannelSecurity(
        config.tls_ca, config.tls_cert, config.tls_key, read_token(config.token_file, token)
    )
    channel_settings = ChannelSettings(security=security)
    render_agent = RenderAgent(config, engines, fonts=fonts, channel_settings=channel_settings)
    metrics = AgentMetrics(render_agent) if config.metrics_port is not None else None
    if metrics is not None and config.metrics_port is not None:
        metrics.serve(config.metrics_port, config.metrics_host)
    sdnotify.notify("READY=1")
    watchdog = asyncio.create_task(sdnotify.ping_watchdog())
    stopping = asyncio.create_task(_notify_stopping(shutdown))
    try:
        await render_agent.run(shutdown, hurry)
    finally:
        watchdog.cancel()
        stopping.cancel()
        if metrics is not None:
            metrics.close()


async def _notify_stopping(shutdown: asyncio.Event) -> None:
    from agent import sdnotify

    await shutdown.wait()
    # systemd keeps the unit in "deactivating" for the drain instead of counting it as hung.
    sdnotify.notify("STOPPING=1")


def _install_signal_handlers(shutdown: asyncio.Event, hurry: asyncio.Event) -> None:
    """The first signal starts a drain (shutdown); a second one ends the drain (hurry)."""
    loop = asyncio.get_running_loop()

    def request_shutdown(name: str) -> None:
        if not shutdown.is_set():
            logger.info("%s received: draining, then shutting down", name)
            shutdown.set()
        elif not hurry.is_set():
            logger.info("%s received again: stopping the running leases now", name)
            hurry.set()

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
