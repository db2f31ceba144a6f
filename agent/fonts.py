"""The font families installed on this box, for the agent's Hello."""

from __future__ import annotations

import logging
import shutil
import subprocess

logger = logging.getLogger(__name__)

FC_LIST_TIMEOUT = 10.0


def installed_font_families() -> list[str]:
    """Return the sorted font families that fc-list lists, or an empty list without fc-list.

    NOTE: Windows and macOS boxes without fontconfig report no fonts; the controller then
    cannot match jobs to fonts and relies on After Effects' missing-fonts warning.
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        completed = subprocess.run(
            [fc_list, ":", "family"],
            capture_output=True,
            timeout=FC_LIST_TIMEOUT,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.warning("cannot list fonts with fc-list: %s", error)
        return []
    families = set()
    for line in completed.stdout.decode("utf-8", errors="replace").splitlines():
        # fc-list prints localized names separated by commas; the first is the family name.
        family = line.split(",", 1)[0].strip()
        if family:
            families.add(family)
    return sorted(families)
