"""Read a project with py-aep: find a composition and the number of frames a render makes."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import py_aep

from agent.errors import LeaseFailure

logger = logging.getLogger(__name__)

# A nested composition is addressed as "outer->inner" (nexrender's notation).
NESTED_SEPARATOR = "->"


@dataclass(frozen=True)
class CompInfo:
    name: str
    width: int
    height: int
    frame_rate: float
    # Seconds.
    duration: float
    display_start_frame: int
    # Frames from the composition's start, not displayed numbers.
    work_area_start_frame: int
    work_area_frames: int


def load_project(path: Path) -> Any:
    """Parse path with py-aep, turning any parser failure into template_invalid."""
    try:
        return py_aep.parse(path)
    except Exception as error:
        # py-aep raises many exception types on damaged or unsupported files.
        logger.warning("py-aep cannot read %s", path, exc_info=True)
        raise LeaseFailure(
            "template_invalid",
            f"cannot read the template {path.name} as an After Effects project: "
            f"{type(error).__name__}: {error}",
        ) from error


def find_composition(project: Any, name: str) -> Any:
    """Return the first composition named name, or the inner one of "outer->inner".

    Names compare case-sensitively, like aerender's -comp. Raises comp_not_found listing the
    compositions the project has.
    """
    parts = [part.strip() for part in name.split(NESTED_SEPARATOR)]
    comps = list(project.compositions)
    current = next((comp for comp in comps if comp.name == parts[0]), None)
    for inner in parts[1:]:
        if current is None:
            break
        current = next(
            (
                layer.source
                for layer in current.layers
                if isinstance(getattr(layer, "source", None), py_aep.CompItem)
                and layer.source.name == inner
            ),
            None,
        )
    if current is None:
        existing = ", ".join(repr(comp.name) for comp in comps[:20]) or "none"
        raise LeaseFailure(
            "comp_not_found",
            f"composition {name!r} not found in the project; its compositions are {existing}",
        )
    return current


def comp_info(comp: Any) -> CompInfo:
    return CompInfo(
        name=comp.name,
        width=int(comp.width),
        height=int(comp.height),
        frame_rate=float(comp.frame_rate),
        duration=float(comp.duration),
        display_start_frame=int(comp.display_start_frame),
        work_area_start_frame=int(comp.work_area_start_frame),
        work_area_frames=int(comp.work_area_duration_frame),
    )


def read_comp_info(path: Path, composition: str) -> CompInfo:
    return comp_info(find_composition(load_project(path).project, composition))


def expected_frames(
    info: CompInfo, frame_start: int | None, frame_end: int | None, increment: int
) -> int:
    """Return the number of frames aerender renders for that range and increment.

    Without a range, aerender renders the composition's work area. Both range ends are
    displayed frame numbers and the end is inclusive.
    """
    increment = max(1, increment)
    if frame_start is None or frame_end is None:
        count = info.work_area_frames
    else:
        count = frame_end - frame_start + 1
    if count < 1:
        raise LeaseFailure(
            "invalid_frame_range",
            f"frame range {frame_start}..{frame_end} of composition {info.name!r} is empty; "
            f"the end frame is inclusive and must not be before the start",
        )
    return math.ceil(count / increment)
