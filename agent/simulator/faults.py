"""Failure modes the simulator reproduces, selected per agent or per job.

Two sources select faults, and the simulator applies the union of both:

- the environment variable `AEFARM_SIM_FAULTS`, a comma-separated list, which selects
  faults for every render of an agent (`AEFARM_SIM_FAULTS=missing_fonts,slow:0.5`);
- the comment of the rendered composition, a line `aefarm-sim: fault1, fault2`, which
  selects faults for the jobs that use that template.

Faults:

- `missing_fonts`: prints `WARNING:After Effects warning: Project has missing fonts.` and
  the PostScript names of the project's fonts on indented lines below it, renders normally
  and exits 0.
- `missing_footage`: treats every file footage in the render as missing. Without
  `-continueOnMissingFootage` the render stops with a missing-dependency error (exit 9).
  With it, colour bars replace the footage, a warning is printed, and the exit code is 0.
- `comp_not_found`: acts as if the composition did not exist (exit 7).
- `hang_launch`: prints the version and launch lines, then sleeps until killed.
- `hang_mid_render`: prints half the frame lines, stops ffmpeg, then sleeps until killed.
- `crash`: prints the first half of the frame lines, writes an output that holds only those
  frames, prints `aerender Error: After Effects error: ...` and exits 9.
- `exit_no_output`: prints the version and launch lines and exits 0 without rendering, the
  silent failure seen with third-party renderer licensing.
- `never_exits`: finishes the output and prints the closing lines, then sleeps until killed.
- `out_of_order`: prints frame lines out of order and some of them twice, as Multi-Frame
  Rendering does.
- `drop_frame`: prints drop-frame timecode with semicolons when the comp rate is 29.97 or
  59.94 (a drop-frame comp gets it without the fault).
- `fields`: adds `U` (upper field first) after the bracketed frame count.
- `german`: prints the header names `Anfang`, `Ende`, `Dauer`, `Framerate`, `Sekunden`,
  German dates and a decimal comma (`25,00`).
- `non_utf8`: prints comp names in cp1252 curly quotes and one cp1252-encoded warning line.
- `no_frame_lines`: prints no frame lines at all.
- `frames_display`: prints frame numbers instead of timecode, as projects set to frames
  display do (a project saved with frames display gets it without the fault).
- `spawn_child`: starts a child process that detaches with `setsid` and sleeps, as AfterFX
  outlives aerender; its command line carries `aefarm-sim-afterfx` and its stdio is closed.
- `slow:SECONDS`: adds that many seconds to every frame, for example `slow:0.5`.

Hanging and sleeping simulators die on SIGTERM and SIGKILL like any process, and ffmpeg,
started as their child, dies with them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

FAULTS_ENV = "AEFARM_SIM_FAULTS"
COMMENT_PREFIX = "aefarm-sim:"

FAULT_NAMES = frozenset(
    {
        "missing_fonts",
        "missing_footage",
        "comp_not_found",
        "hang_launch",
        "hang_mid_render",
        "crash",
        "exit_no_output",
        "never_exits",
        "out_of_order",
        "drop_frame",
        "fields",
        "german",
        "non_utf8",
        "no_frame_lines",
        "frames_display",
        "spawn_child",
    }
)


@dataclass(frozen=True)
class Faults:
    """The selected faults: names without values, plus the `slow` seconds per frame."""

    names: frozenset[str] = frozenset()
    slow_seconds: float = 0.0

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def union(self, other: Faults) -> Faults:
        return Faults(
            names=self.names | other.names,
            slow_seconds=max(self.slow_seconds, other.slow_seconds),
        )


def parse_faults(text: str, source: str) -> Faults:
    """Parse a comma-separated fault list. `source` names its origin in error messages."""
    names: set[str] = set()
    slow_seconds = 0.0
    for item in text.split(","):
        fault = item.strip()
        if not fault:
            continue
        if fault.startswith("slow:"):
            slow_seconds = _slow_seconds(fault, source)
        elif fault in FAULT_NAMES:
            names.add(fault)
        else:
            known = ", ".join(sorted(FAULT_NAMES | {"slow:SECONDS"}))
            raise ValueError(f"unknown simulator fault {fault!r} in {source}; known: {known}")
    return Faults(names=frozenset(names), slow_seconds=slow_seconds)


def faults_from_comment(comment: str, comp_name: str) -> Faults:
    """Collect the faults of every `aefarm-sim: ...` line in a composition comment."""
    faults = Faults()
    for line in comment.splitlines():
        match = re.match(rf"\s*{re.escape(COMMENT_PREFIX)}(.*)", line)
        if match:
            source = f"the comment of composition {comp_name!r}"
            faults = faults.union(parse_faults(match.group(1), source))
    return faults


def _slow_seconds(fault: str, source: str) -> float:
    try:
        seconds = float(fault.removeprefix("slow:"))
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ValueError(
            f"invalid simulator fault {fault!r} in {source}: "
            "expected slow:SECONDS with a number of seconds per frame, such as slow:0.5"
        )
    return seconds
