"""Find a footage file where After Effects finds it when its absolute path is gone.

A project stores each footage file's absolute path and, beside it, the path relative to the
project file as two counts in py-aep's `alas` record. `ascendcount_base` is the number of path
parts from the deepest folder the two share down to the project file, and `ascendcount_target`
the same down to the footage. When the absolute path does not exist, as on a render box that
received a project with its footage beside it, After Effects looks for the footage at that
relative path from where the project is now. This is how a `static` asset placed next to the project
replaces a file the template's author had on their own machine.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from py_aep.binary.utils import parse_alas_data

logger = logging.getLogger(__name__)

# Both separators split a stored path, because a project saved on Windows stores `C:\...`.
_SEPARATORS = re.compile(r"[\\/]+")


def project_file_of(item: Any) -> Path | None:
    """Return the absolute path of the project file a py-aep item was read from, if known."""
    # NOTE: py-aep 0.18 has no public link from an item to its project, so this reads the
    # private `_project` attribute and gives up when it is absent.
    project = getattr(item, "_project", None)
    file = getattr(project, "file", None)
    return Path(file).absolute() if file else None


def footage_path(main_source: Any, project_file: Path | None) -> Path:
    """Return the file a FileSource renders from: its stored path, else the relative one.

    The stored absolute path is returned when neither exists, so errors name the path the
    project records.
    """
    stored = Path(str(main_source.file))
    if stored.exists() or project_file is None:
        return stored
    relative = relative_footage_path(main_source, project_file)
    if relative is not None and relative.exists():
        logger.debug("footage %s not found; using %s beside the project", stored, relative)
        return relative
    return stored


def relative_footage_path(main_source: Any, project_file: Path) -> Path | None:
    """Return where the source's relative path points from project_file, or None without one."""
    # NOTE: py-aep 0.18 exposes the counts only through the private `_pin` chunk list.
    pin = getattr(main_source, "_pin", None)
    record = parse_alas_data(pin.chunks) if pin is not None else {}
    base = record.get("ascendcount_base")
    target = record.get("ascendcount_target")
    full_path = str(record.get("fullpath", ""))
    if not isinstance(base, int) or not isinstance(target, int) or base < 1 or target < 1:
        return None
    parts = [part for part in _SEPARATORS.split(full_path) if part]
    is_folder = bool(record.get("target_is_folder"))
    # A folder target (an image sequence's folder) counts one part more, as a file inside it.
    target_parts = target - 1 if is_folder else target
    if target_parts > len(parts) or base - 1 >= len(project_file.parents):
        return None
    folder = project_file.parents[base - 1]
    relative = folder.joinpath(*parts[len(parts) - target_parts :])
    if is_folder:
        relative = relative / _SEPARATORS.split(str(main_source.file))[-1]
    return relative
