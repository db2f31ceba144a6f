"""Telling the two job shapes apart by the fields that only one of them has."""

from __future__ import annotations

import logging
from typing import Any, Literal

from controller.jobspec.nexrender import BOOKKEEPING_FIELDS, TEMPLATE_FIELDS
from controller.jobspec.problems import ROOT, Problems, member

logger = logging.getLogger(__name__)

Shape = Literal["cloud", "nexrender"]

CLOUD_TOP_FIELDS = ("settings", "preview", "fonts", "upload", "webhook")
CLOUD_ASSET_TYPES = ("text", "essential", "function", "job")
NEXRENDER_TOP_FIELDS = ("uid", "actions", *(key for key in BOOKKEEPING_FIELDS if key != "type"))
NEXRENDER_TEMPLATE_FIELDS = tuple(
    key for key in TEMPLATE_FIELDS if key not in ("src", "composition")
)
_MARKERS_SHOWN = 3


def detect_shape(obj: dict[str, Any], problems: Problems) -> Shape | None:
    """Return the shape of a job object, or report a job that mixes fields of both shapes.

    A job with fields of neither shape (only template {src, composition}, assets, priority,
    tags) reads as a Nexrender Cloud job.
    """
    cloud, nexrender = find_markers(obj)
    if cloud and nexrender:
        problems.add(
            ROOT,
            f"the job mixes fields of the Nexrender Cloud shape ({_list(cloud)}) with fields "
            f"of the nexrender shape ({_list(nexrender)}); write it in one of the two shapes",
        )
        return None
    shape: Shape = "nexrender" if nexrender else "cloud"
    logger.debug("job reads as the %s shape (markers: %s)", shape, ", ".join(cloud + nexrender))
    return shape


def find_markers(obj: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Return the paths of the fields that mark a Nexrender Cloud job and a nexrender job."""
    cloud = [member(ROOT, key) for key in CLOUD_TOP_FIELDS if key in obj]
    nexrender = [member(ROOT, key) for key in NEXRENDER_TOP_FIELDS if key in obj]
    if obj.get("type") == "join":
        cloud.append(member(ROOT, "type"))
    elif obj.get("type") == "default":
        # nexrender's server writes "type": "default" into every job it stores.
        nexrender.append(member(ROOT, "type"))
    template = obj.get("template")
    if isinstance(template, dict):
        template_path = member(ROOT, "template")
        if "id" in template:
            cloud.append(member(template_path, "id"))
        nexrender += [
            member(template_path, key) for key in NEXRENDER_TEMPLATE_FIELDS if key in template
        ]
    assets = obj.get("assets")
    if isinstance(assets, list):
        for index, asset in enumerate(assets):
            if isinstance(asset, dict) and asset.get("type") in CLOUD_ASSET_TYPES:
                cloud.append(member(member(member(ROOT, "assets"), index), "type"))
    return cloud, nexrender


def _list(paths: list[str]) -> str:
    shown = ", ".join(paths[:_MARKERS_SHOWN])
    if len(paths) > _MARKERS_SHOWN:
        shown += f" and {len(paths) - _MARKERS_SHOWN} more"
    return shown
