"""The JSON locations of a submitted job's nested jobs, for checks that report paths.

The spec keeps no JSON paths. A render's spec.children and a join's job inputs (the entries of
spec.join_inputs with a job) are its assets of type "job" in the order of assets[], so the n-th
of them was parsed from the n-th "job" asset. Such an asset describes its job inline, or
contains a complete job in its job field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from controller.jobspec.problems import member

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NestedSource:
    """The JSON of one nested job: its asset, and the object the job was parsed from."""

    # JSON path of the asset, such as $.assets[2], which contains the parent's layerName.
    asset_path: str
    # The asset itself, or the object in its job field.
    raw: dict[str, Any]
    # JSON path of raw: asset_path, or asset_path followed by .job.
    path: str


def nested_sources(raw: Any, path: str) -> list[NestedSource]:
    """Return the "job" assets of a raw job at path, in order (see the module docstring)."""
    assets = raw.get("assets") if isinstance(raw, dict) else None
    if not isinstance(assets, list):
        return []
    sources = []
    for index, asset in enumerate(assets):
        if not isinstance(asset, dict) or asset.get("type") != "job":
            continue
        asset_path = member(member(path, "assets"), index)
        job = asset.get("job")
        if isinstance(job, dict):
            sources.append(NestedSource(asset_path, job, member(asset_path, "job")))
        else:
            sources.append(NestedSource(asset_path, asset, asset_path))
    return sources
