"""Match the fonts a template uses with the fonts an agent has and the fonts a job brings.

A template's fonts are PostScript names from inspection ("MyriadPro-Regular"). Agents report
font families ("Myriad Pro"); a job brings font files (font assets, the Cloud `fonts` list).
Names compare by their letters and digits only, case-insensitively. A PostScript name matches
a family equal to the whole name or to its part before the first "-" (the family part of a
PostScript name), and a font file whose name without extension is equal to either.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from controller.jobspec import models
from controller.scheduler_types import AgentRecord, JobRecord, JobState

logger = logging.getLogger(__name__)


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _keys_of(postscript_name: str) -> set[str]:
    return {_key(postscript_name), _key(postscript_name.split("-", 1)[0])} - {""}


def _file_key(name: str) -> str:
    # "https://x/Montserrat-Bold.ttf?v=1" and "Montserrat-Bold.otf" both give "montserratbold".
    return _key(PurePosixPath(name.split("?", 1)[0]).stem)


def brought_fonts(spec: models.JobSpec) -> set[str]:
    """Return the keys of the fonts the job installs itself."""
    names = list(spec.fonts)
    for asset in spec.assets:
        if isinstance(asset, models.FontAsset):
            names.append(asset.name or asset.src)
    return {_file_key(name) for name in names} - {""}


def required_fonts(spec: models.JobSpec) -> list[str]:
    """Return the template's fonts the job does not bring itself; none with allow_missing_fonts."""
    # The scheduler calls this once per idle agent for each job it dispatches, and most
    # templates list no fonts: skip collecting the job's own fonts then.
    if spec.template is None or not spec.template.fonts or spec.settings.allow_missing_fonts:
        return []
    brought = brought_fonts(spec)
    return [font for font in spec.template.fonts if not _keys_of(font) & brought]


def missing_fonts(spec: models.JobSpec, agent_fonts: Iterable[str]) -> list[str]:
    """Return the fonts of required_fonts(spec) that an agent with agent_fonts lacks."""
    required = required_fonts(spec)
    if not required:
        return []
    have = {_key(font) for font in agent_fonts}
    return [font for font in required if not _keys_of(font) & have]


def waiting_reason(job: JobRecord | None, agents: Iterable[AgentRecord]) -> str:
    """Say why a queued job waits when every connected agent lacks some of its fonts."""
    if job is None or job.state != JobState.QUEUED or not required_fonts(job.spec):
        return ""
    connected = [agent for agent in agents if agent.connected]
    if not connected:
        return ""
    lacking = {agent.agent_id: missing_fonts(job.spec, agent.fonts) for agent in connected}
    if not all(lacking.values()):
        return ""
    fonts = sorted({font for missing in lacking.values() for font in missing})
    return (
        f"no connected agent has every font the template uses: missing {', '.join(fonts)}; "
        "install the fonts on an agent, add them to the job as font assets, or set "
        "allowMissingFonts to render with substitutes"
    )
