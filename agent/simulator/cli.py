"""The aerender command line, parsed by hand.

aerender's flags are single-dash long names (`-project`, `-OMtemplate`), some with two values
(`-mfr ON 90`), which argparse does not handle well. Flag names are case-sensitive, a later
flag replaces an earlier one, and every mistake raises `AerenderSyntaxError` with the text
aerender prints after `aerender SYNTAX ERROR: `.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from agent.simulator.errors import AerenderSyntaxError

logger = logging.getLogger(__name__)

DEFAULT_VERSION = "26.0x55"

# Number of values each flag takes.
FLAG_ARITY: dict[str, int] = {
    "-project": 1,
    "-comp": 1,
    "-rqindex": 1,
    "-RStemplate": 1,
    "-OMtemplate": 1,
    "-output": 1,
    "-s": 1,
    "-e": 1,
    "-i": 1,
    "-mfr": 2,
    "-mp": 0,
    "-mem_usage": 2,
    "-v": 1,
    "-close": 1,
    "-sound": 1,
    "-continueOnMissingFootage": 0,
    "-log": 1,
    "-renderSettings": 1,
    "-outputSettings": 1,
    "-reuse": 0,
    "-version": 0,
    "-r": 1,
    "-help": 0,
}

VERBOSITY_LEVELS = ("ERRORS", "ERRORS_AND_PROGRESS")
CLOSE_OPTIONS = ("DO_NOT_SAVE_CHANGES", "SAVE_CHANGES", "DO_NOT_CLOSE")

# -mfr exists from AE 2022 (22.0), -mp is rejected from 22.0, and the per-key
# -renderSettings / -outputSettings overrides exist from AE 2023 (23.0).
MFR_FIRST_MAJOR = 22
SETTINGS_OVERRIDES_FIRST_MAJOR = 23


@dataclass(frozen=True)
class SimulatedVersion:
    """The After Effects version the simulator reports, such as `26.0x55`."""

    text: str
    major: int

    @classmethod
    def parse(cls, text: str) -> SimulatedVersion:
        match = re.fullmatch(r"(\d+)\.(\d+)(?:x\d+)?", text.strip())
        if match is None:
            raise ValueError(
                f"invalid simulated After Effects version {text!r}: "
                "expected MAJOR.MINORxBUILD such as 26.0x55"
            )
        return cls(text=text.strip(), major=int(match.group(1)))


@dataclass
class RenderRequest:
    """The flags and values of one aerender command line."""

    project: Path | None = None
    comp: str | None = None
    rqindex: int | None = None
    render_settings: str | None = None
    output_module: str | None = None
    output: str | None = None
    start_frame: int | None = None
    end_frame: int | None = None
    increment: int = 1
    mfr: tuple[bool, int] | None = None
    legacy_multiprocessing: bool = False
    mem_usage: tuple[int, int] | None = None
    verbosity: str = "ERRORS_AND_PROGRESS"
    close: str | None = None
    sound: bool | None = None
    continue_on_missing_footage: bool = False
    log_path: Path | None = None
    render_settings_overrides: dict[str, str] = field(default_factory=dict)
    output_settings_overrides: dict[str, str] = field(default_factory=dict)
    reuse: bool = False
    script: str | None = None
    show_version: bool = False
    show_usage: bool = False

    @property
    def progress(self) -> bool:
        return self.verbosity == "ERRORS_AND_PROGRESS"


def uses_log(argv: list[str]) -> bool:
    """Tell whether `argv` names a log file, which shifts the exit codes, even if invalid."""
    return any(arg == "-log" and index + 1 < len(argv) for index, arg in enumerate(argv))


def parse_args(argv: list[str], version: SimulatedVersion) -> RenderRequest:
    """Parse aerender's command line into a `RenderRequest`."""
    request = RenderRequest()
    if not argv:
        request.show_usage = True
        return request

    index = 0
    while index < len(argv):
        flag = argv[index]
        if flag not in FLAG_ARITY:
            if flag.startswith("-"):
                raise AerenderSyntaxError(f"Illegal argument flag: {flag}")
            raise AerenderSyntaxError(f"Unexpected argument {flag!r}: every value needs a flag.")
        arity = FLAG_ARITY[flag]
        values = argv[index + 1 : index + 1 + arity]
        if len(values) < arity or any(value in FLAG_ARITY for value in values):
            raise AerenderSyntaxError(f"Missing value for flag {flag}: it takes {arity} value(s).")
        _check_version_gate(flag, version)
        _apply_flag(request, flag, values)
        index += 1 + arity

    if request.comp is not None and request.rqindex is not None:
        raise AerenderSyntaxError("Use either -comp or -rqindex, not both.")
    return request


def _check_version_gate(flag: str, version: SimulatedVersion) -> None:
    if flag == "-mfr" and version.major < MFR_FIRST_MAJOR:
        raise AerenderSyntaxError(f"Illegal argument flag: {flag}")
    if flag == "-mp" and version.major >= MFR_FIRST_MAJOR:
        raise AerenderSyntaxError(f"Illegal argument flag: {flag}")
    overrides = ("-renderSettings", "-outputSettings")
    if flag in overrides and version.major < SETTINGS_OVERRIDES_FIRST_MAJOR:
        raise AerenderSyntaxError(f"Illegal argument flag: {flag}")


def _apply_flag(request: RenderRequest, flag: str, values: list[str]) -> None:
    value = values[0] if values else ""
    match flag:
        case "-project":
            request.project = Path(value)
        case "-comp":
            request.comp = value
        case "-rqindex":
            request.rqindex = _integer(flag, value, minimum=1)
        case "-RStemplate":
            request.render_settings = value
        case "-OMtemplate":
            request.output_module = value
        case "-output":
            request.output = value
        case "-s":
            request.start_frame = _integer(flag, value)
        case "-e":
            request.end_frame = _integer(flag, value)
        case "-i":
            request.increment = _integer(flag, value, minimum=1, maximum=100)
        case "-mfr":
            request.mfr = (_on_off(flag, values[0]), _integer(flag, values[1], 1, 100))
        case "-mp":
            request.legacy_multiprocessing = True
        case "-mem_usage":
            request.mem_usage = (_integer(flag, values[0], 0, 100), _integer(flag, values[1], 0))
        case "-v":
            request.verbosity = _choice(flag, value, VERBOSITY_LEVELS)
        case "-close":
            request.close = _choice(flag, value, CLOSE_OPTIONS)
        case "-sound":
            request.sound = _on_off(flag, value)
        case "-continueOnMissingFootage":
            request.continue_on_missing_footage = True
        case "-log":
            request.log_path = Path(value)
        case "-renderSettings":
            request.render_settings_overrides = _settings(flag, value)
        case "-outputSettings":
            request.output_settings_overrides = _settings(flag, value)
        case "-reuse":
            request.reuse = True
        case "-version":
            request.show_version = True
        case "-r":
            request.script = value
        case "-help":
            request.show_usage = True


def _integer(flag: str, value: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise AerenderSyntaxError(
            f"Invalid value {value!r} for {flag}: expected an integer."
        ) from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f"{minimum if minimum is not None else '...'} to {maximum or '...'}"
        raise AerenderSyntaxError(f"Invalid value {value!r} for {flag}: expected {bounds}.")
    return number


def _on_off(flag: str, value: str) -> bool:
    return _choice(flag, value.upper(), ("ON", "OFF")) == "ON"


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise AerenderSyntaxError(
            f"Invalid value {value!r} for {flag}: expected one of {', '.join(choices)}."
        )
    return value


def _settings(flag: str, value: str) -> dict[str, str]:
    """Parse `"key: value; key: value"` overrides, the form AE 2023 and later take."""
    settings: dict[str, str] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        key, separator, setting = part.partition(":")
        if not separator or not key.strip():
            raise AerenderSyntaxError(
                f'Invalid value {value!r} for {flag}: expected "key: value; key: value".'
            )
        settings[key.strip()] = setting.strip()
    return settings


USAGE = """\
Usage: aerender [flags]
  -project PATH              project to open
  -comp NAME                 composition to render (or -rqindex N, 1-based)
  -RStemplate NAME           render-settings template
  -OMtemplate NAME           output-module template
  -output PATH               output file; [#####] in the name for image sequences
  -s N / -e N                first and last frame (displayed frame numbers, inclusive)
  -i N                       render every Nth frame (1 to 100)
  -mfr ON|OFF PCT            Multi-Frame Rendering and its max CPU percent (22.0 and later)
  -mp                        legacy multiprocessing (before 22.0 only)
  -mem_usage IMG MAX         image-cache and max-memory percent
  -v ERRORS|ERRORS_AND_PROGRESS
  -close DO_NOT_SAVE_CHANGES|SAVE_CHANGES|DO_NOT_CLOSE
  -sound ON|OFF
  -continueOnMissingFootage  render colour bars for missing footage
  -log PATH                  write the log to PATH (exit codes 3, 5, 7, 9 become 4, 6, 8, 10)
  -renderSettings STR / -outputSettings STR   "key: value; ..." overrides (23.0 and later)
  -reuse                     use a running After Effects
  -version                   print the version and exit
"""
