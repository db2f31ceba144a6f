"""Build the aerender argument vector for one render.

The vector is passed to the process as a list, never through a shell. `-mfr ON <percent>`
exists from AE 2022 (22.0) and older versions reject it. The legacy `-mp` flag fails on AE
2022 and later, and this module never sends it. The end frame of `-e` is inclusive.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.engines import capabilities, parse_major
from agent.errors import LeaseFailure

logger = logging.getLogger(__name__)

LOG_LEVEL = "ERRORS_AND_PROGRESS"
# -renderSettings and -outputSettings exist from AE 2023 (23.0).
SETTINGS_OVERRIDES_FIRST_MAJOR = 23


@dataclass(frozen=True)
class RenderRequest:
    project: Path
    composition: str
    output: Path
    output_module: str
    render_settings: str
    # Displayed frame numbers, end inclusive; None renders the composition's work area.
    frame_start: int | None = None
    frame_end: int | None = None
    # Render every Nth frame; 1 renders every frame.
    frame_increment: int = 1
    continue_on_missing_footage: bool = False
    # Maximum CPU percent for Multi-Frame Rendering, 1 to 100.
    mfr_cpu_percent: int = 100
    # Per-key overrides of the render settings and output module (AE 2023 and later).
    render_settings_overrides: Mapping[str, str] = field(default_factory=dict)
    output_settings_overrides: Mapping[str, str] = field(default_factory=dict)
    # ExtendScript run with -r, which only an aerender with a patched commandLineRenderer.jsx
    # understands (the patched-aerender script runner).
    script: Path | None = None


def build_aerender_args(
    command: Sequence[str], engine_version: str, request: RenderRequest
) -> list[str]:
    """Return command followed by the aerender flags of request for that engine version.

    command is the aerender binary, or several words when the engine is the simulator.
    """
    if not 1 <= request.frame_increment <= 100:
        raise ValueError(f"frame_increment {request.frame_increment} is outside 1 to 100")
    if not 1 <= request.mfr_cpu_percent <= 100:
        raise ValueError(f"mfr_cpu_percent {request.mfr_cpu_percent} is outside 1 to 100")

    args = [*command]
    args += ["-project", str(request.project)]
    args += ["-comp", request.composition]
    args += ["-RStemplate", request.render_settings]
    args += ["-OMtemplate", request.output_module]
    args += ["-output", str(request.output)]
    if request.frame_start is not None:
        args += ["-s", str(request.frame_start)]
    if request.frame_end is not None:
        args += ["-e", str(request.frame_end)]
    if request.frame_increment != 1:
        args += ["-i", str(request.frame_increment)]
    args += ["-v", LOG_LEVEL]
    args += ["-close", "DO_NOT_SAVE_CHANGES"]
    args += ["-sound", "OFF"]
    if capabilities(engine_version).get("mfr", False):
        args += ["-mfr", "ON", str(request.mfr_cpu_percent)]
    if request.continue_on_missing_footage:
        args.append("-continueOnMissingFootage")
    if request.script is not None:
        args += ["-r", str(request.script)]
    for flag, overrides in (
        ("-renderSettings", request.render_settings_overrides),
        ("-outputSettings", request.output_settings_overrides),
    ):
        if overrides:
            args += [flag, settings_overrides(flag, overrides, engine_version)]
    return args


def settings_overrides(flag: str, overrides: Mapping[str, str], engine_version: str) -> str:
    """Return overrides as aerender's `"key: value; key: value"` text for flag.

    Raises LeaseFailure when the engine is older than AE 2023, which has no such flag, or when
    a key or value contains the separators `;` or `:` (keys) that the text format cannot
    escape.
    """
    if parse_major(engine_version) < SETTINGS_OVERRIDES_FIRST_MAJOR:
        raise LeaseFailure(
            "unsupported_setting",
            f"{flag} overrides need After Effects 2023 or later; engine version "
            f"{engine_version} has no such flag. Use a newer engine or drop the overrides.",
        )
    for key, value in overrides.items():
        if ";" in key or ":" in key or ";" in value:
            raise LeaseFailure(
                "invalid_setting",
                f"{flag} override {key!r}: {value!r} contains ';' or a ':' in the key, which "
                f'aerender\'s "key: value; ..." text cannot carry',
            )
    return "; ".join(f"{key}: {value}" for key, value in overrides.items())
