"""Find a font file for drawing text layers with ffmpeg's drawtext filter."""

from __future__ import annotations

import logging
import shutil
import subprocess
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

FONT_DIRECTORIES = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
_FC_MATCH_TIMEOUT_SECONDS = 10


@cache
def find_font_file() -> Path | None:
    """Return a sans-serif font file (fontconfig's choice first), or None if there is none.

    Every text layer is drawn with this one font: the simulator does not look up the font a
    TextDocument names, as After Effects would substitute it anyway when it is missing.
    """
    fc_match = shutil.which("fc-match")
    if fc_match is not None:
        try:
            result = subprocess.run(
                [fc_match, "--format=%{file}", "sans-serif"],
                capture_output=True,
                text=True,
                timeout=_FC_MATCH_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            logger.warning("fc-match failed, searching font folders instead: %s", error)
        else:
            candidate = Path(result.stdout.strip())
            is_font = candidate.suffix.lower() in FONT_SUFFIXES
            if result.returncode == 0 and is_font and candidate.is_file():
                return candidate

    for directory in FONT_DIRECTORIES:
        if not directory.is_dir():
            continue
        fonts = sorted(p for p in directory.rglob("*") if p.suffix.lower() in FONT_SUFFIXES)
        preferred = [p for p in fonts if "sans" in p.name.lower()]
        if preferred or fonts:
            return (preferred or fonts)[0]
    return None
