"""The agent's settings for inputs: path mapping, the cache size, scripts and fonts.

`add_input_flags` adds their command-line flags, `input_options_from_args` reads them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from agent.cache import DEFAULT_MAX_BYTES, MIB
from agent.extendscript import DEFAULT_SCRIPT_TIMEOUT, RUNNERS, AfterFxProgram
from agent.pathmap import PathMapper, PathMapRule
from agent.simulator.script_host import ScriptHostError, find_node

logger = logging.getLogger(__name__)

# The After Effects stand-in that --simulate uses for --script-runner afterfx without --afterfx.
SIMULATED_AFTERFX = (sys.executable, "-m", "agent.simulator.afterfx")


@dataclass(frozen=True)
class InputOptions:
    # Prefix rules, in order, that rewrite file sources before the file-roots check.
    path_map: tuple[PathMapRule, ...] = ()
    # afterfx, patched-aerender, or empty: script assets then fail with script_runner_missing.
    script_runner: str = ""
    # The After Effects program for the afterfx runner (AfterFX.exe, or the macOS app name),
    # or under --simulate the command of the simulator's stand-in.
    afterfx: AfterFxProgram = ""
    script_timeout: float = DEFAULT_SCRIPT_TIMEOUT
    # Folders searched for the font file names of a Nexrender Cloud job's `fonts` list.
    font_dirs: tuple[Path, ...] = field(default_factory=tuple)

    def path_mapper(self) -> PathMapper:
        return PathMapper(self.path_map)


def _path_map_rule(text: str) -> PathMapRule:
    try:
        return PathMapRule.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _mebibytes(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--cache-size {value} must be at least 1 MiB")
    return value


def add_input_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path-map",
        action="append",
        type=_path_map_rule,
        default=[],
        metavar="FROM=TO",
        help="rewrite file sources that start with FROM to start with TO, before the "
        "--file-root check; repeatable, first match wins (for example "
        "'\\\\nas\\projects=/mnt/projects')",
    )
    parser.add_argument(
        "--cache-size",
        type=_mebibytes,
        default=DEFAULT_MAX_BYTES // MIB,
        metavar="MIB",
        help="maximum size of the download cache in MiB; the least recently used files go "
        f"first (default: {DEFAULT_MAX_BYTES // MIB})",
    )
    parser.add_argument(
        "--script-runner",
        choices=RUNNERS,
        default="",
        help="how script assets run: afterfx (After Effects' -r, needs --afterfx) or "
        "patched-aerender (aerender -r with a patched commandLineRenderer.jsx); without it "
        "jobs with scripts fail with script_runner_missing (default: none, and "
        "patched-aerender with --simulate)",
    )
    parser.add_argument(
        "--afterfx",
        default="",
        metavar="PROGRAM",
        help="AfterFX.exe for --script-runner afterfx on Windows; on macOS the application "
        "name, such as 'Adobe After Effects 2026', which osascript addresses (default with "
        "--simulate: the simulator's After Effects stand-in)",
    )
    parser.add_argument(
        "--script-timeout",
        type=float,
        default=DEFAULT_SCRIPT_TIMEOUT,
        metavar="SECONDS",
        help=f"maximum seconds for a lease's scripts (default: {DEFAULT_SCRIPT_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--font-dir",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="folder with font files that a job's fonts list may name; repeatable",
    )


def input_options_from_args(args: argparse.Namespace) -> InputOptions:
    """Read the input flags; --simulate picks script runners that work without After Effects.

    With --simulate the runner defaults to patched-aerender, because the simulator runs -r
    scripts, and afterfx without --afterfx runs the simulator's stand-in.
    """
    simulate = bool(getattr(args, "simulate", False))
    runner: str = args.script_runner or ("patched-aerender" if simulate else "")
    afterfx: AfterFxProgram = args.afterfx
    if runner == "afterfx" and not afterfx:
        if not simulate:
            raise SystemExit("--script-runner afterfx needs --afterfx PROGRAM")
        afterfx = SIMULATED_AFTERFX
    if simulate:
        _warn_without_node()
    return InputOptions(
        path_map=tuple(args.path_map),
        script_runner=runner,
        afterfx=afterfx,
        script_timeout=args.script_timeout,
        font_dirs=tuple(path.resolve() for path in args.font_dir),
    )


def _warn_without_node() -> None:
    try:
        find_node()
    except ScriptHostError as error:
        logger.warning("jobs with script assets will fail on this simulated agent: %s", error)
