"""Parsing jobs in the shape of open-source nexrender.

A job is {uid, priority, tags, template, assets[], actions}. The template carries the render
settings: frameStart and frameEnd (aerender -s and -e, end inclusive), incrementFrame (-i),
outputModule (-OMtemplate), outputExt, settingsTemplate (-RStemplate), renderSettings and
outputSettings (-renderSettings and -outputSettings), continueOnMissing and imageSequence.

The fields that nexrender's server adds while it runs a job (BOOKKEEPING_FIELDS) are accepted
so that a job exported from it can be submitted again, and they are ignored.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from controller.jobspec.actions import parse_actions
from controller.jobspec.assets import parse_assets
from controller.jobspec.fields import (
    Fields,
    build,
    check_known_fields,
    check_not_empty,
    is_integer,
    object_at,
    present,
)
from controller.jobspec.models import JobSpec, RenderSettings, TemplateRef
from controller.jobspec.problems import ROOT, Problems, describe
from controller.jobspec.scheduling import take_scheduling
from controller.jobspec.settings import take_render_limits
from controller.jobspec.sources import take_src
from controller.jobspec.templates import take_composition

logger = logging.getLogger(__name__)

NEXRENDER_FIELDS = ("uid", "priority", "tags", "template", "assets", "actions")
BOOKKEEPING_FIELDS = (
    "type", "state", "output", "onChange", "onRenderProgress", "onRenderError", "createdAt",
    "updatedAt", "startedAt", "finishedAt", "errorAt", "error", "renderProgress", "workpath",
    "jobCreator", "jobExecutor", "creator", "executor",
)  # fmt: skip
TEMPLATE_FIELDS = (
    "src", "composition", "frameStart", "frameEnd", "incrementFrame", "outputModule",
    "outputExt", "settingsTemplate", "renderSettings", "outputSettings", "continueOnMissing",
    "imageSequence", "hangTimeout", "maxRenderTime", "allowMissingFonts",
)  # fmt: skip
# Output extensions that make aerender write an image sequence, result_[#####].ext.
IMAGE_SEQUENCE_EXTENSIONS = ("jpg", "jpeg", "png", "tif", "tga")
# aerender accepts -i from 1 to 100.
MAX_FRAME_INCREMENT = 100
# A uid may become part of file names and URLs, so it is kept to URL-safe characters.
_UID = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
_EXTENSION = re.compile(r"[a-z0-9]{1,16}\Z")


def parse_nexrender_job(obj: dict[str, Any], problems: Problems) -> JobSpec | None:
    """Parse a job object in nexrender's shape."""
    check_known_fields(obj, NEXRENDER_FIELDS, ROOT, problems, ignored=BOOKKEEPING_FIELDS)
    ignored = [key for key in BOOKKEEPING_FIELDS if key in obj]
    if ignored:
        logger.debug("ignoring nexrender bookkeeping fields %s", ", ".join(ignored))
    fields = Fields(obj, ROOT)
    fields.put("shape", "nexrender")
    uid = obj.get("uid")
    if isinstance(uid, str) and not _UID.match(uid):
        problems.add(
            fields.path("uid"),
            f"uid {json.dumps(uid)} must be 1 to 128 letters, digits, '.', '_' or '-'",
        )
    fields.copy("uid", "uid")
    _take_template(fields, problems)
    if present(obj, "assets"):
        parsed = parse_assets(obj["assets"], fields.path("assets"), problems, parse_nested=None)
        fields.put("assets", parsed.assets, "assets")
    if present(obj, "actions"):
        actions = parse_actions(obj["actions"], fields.path("actions"), problems)
        if actions is not None:
            fields.put("actions", actions, "actions")
    take_scheduling(fields, problems)
    return build(JobSpec, fields, problems)


def _take_template(fields: Fields, problems: Problems) -> None:
    path = fields.path("template")
    value = fields.raw.get("template")
    if value is None:
        problems.add(path, "missing: give template {src, composition}")
        return
    raw = object_at(value, path, problems, "template")
    if raw is None:
        return
    check_known_fields(raw, TEMPLATE_FIELDS, path, problems)
    template_fields = Fields(raw, path)
    take_src(template_fields, problems)
    take_composition(template_fields, problems)
    template = build(TemplateRef, template_fields, problems)
    if template is not None:
        fields.put("template", template, "template")
    settings = _parse_render_settings(raw, path, problems)
    if settings is not None:
        fields.put("settings", settings, "template")


def _parse_render_settings(
    raw: dict[str, Any], at: str, problems: Problems
) -> RenderSettings | None:
    fields = Fields(raw, at)
    _take_frames(fields, problems)
    for key, field in (
        ("outputModule", "output_module"),
        ("settingsTemplate", "render_settings_template"),
    ):
        check_not_empty(raw.get(key), fields.path(key), problems, key)
        fields.copy(field, key)
    fields.copy("continue_on_missing_footage", "continueOnMissing")
    take_render_limits(fields, problems)
    extension = _take_output_ext(fields, problems)
    image_sequence = raw.get("imageSequence")
    if image_sequence is not None and not isinstance(image_sequence, bool):
        problems.add(
            fields.path("imageSequence"),
            f"imageSequence must be true or false, not {describe(image_sequence)}",
        )
    is_sequence = image_sequence is True or extension in IMAGE_SEQUENCE_EXTENSIONS
    fields.put("output_type", "image" if is_sequence else "video")
    for key, field in (
        ("renderSettings", "render_settings_overrides"),
        ("outputSettings", "output_settings_overrides"),
    ):
        if present(raw, key):
            overrides = parse_overrides(raw[key], fields.path(key), problems, key)
            if overrides is not None:
                fields.put(field, overrides, key)
    return build(RenderSettings, fields, problems)


def _take_frames(fields: Fields, problems: Problems) -> None:
    raw = fields.raw
    for key, field in (("frameStart", "frame_start"), ("frameEnd", "frame_end")):
        value = raw.get(key)
        if is_integer(value) and value < 0:
            problems.add(
                fields.path(key), f"{key} {value} is a negative frame number; frames count from 0"
            )
        fields.copy(field, key)
    start = raw.get("frameStart")
    end = raw.get("frameEnd")
    if is_integer(start) and is_integer(end) and 0 <= end < start:
        problems.add(
            fields.path("frameEnd"),
            f"frame range is reversed: frameEnd {end} is before frameStart {start}; "
            "frameEnd must be at least frameStart (it is inclusive)",
        )
    increment = raw.get("incrementFrame")
    if is_integer(increment) and not 1 <= increment <= MAX_FRAME_INCREMENT:
        problems.add(
            fields.path("incrementFrame"),
            f"incrementFrame {increment} is out of range; aerender renders every Nth frame "
            f"for N from 1 to {MAX_FRAME_INCREMENT}",
        )
    fields.copy("frame_increment", "incrementFrame")


def _take_output_ext(fields: Fields, problems: Problems) -> str | None:
    """Take outputExt without its leading dot, in lower case, and return it if valid."""
    value = fields.raw.get("outputExt")
    if value is None:
        return None
    path = fields.path("outputExt")
    extension = value.removeprefix(".").lower() if isinstance(value, str) else None
    if extension is None or not _EXTENSION.match(extension):
        problems.add(
            path, f'outputExt {describe(value)} is not a file extension; give one such as "mp4"'
        )
        return None
    fields.put("output_ext", extension, "outputExt")
    return extension


def parse_overrides(value: Any, path: str, problems: Problems, key: str) -> dict[str, str] | None:
    """Parse per-key aerender overrides given as "name: value; ..." or as an object."""
    pairs: dict[str, str] = {}
    if isinstance(value, str):
        for entry in filter(None, (part.strip() for part in value.split(";"))):
            name, colon, setting = entry.partition(":")
            if not colon or not name.strip():
                problems.add(path, f'{key} entry {json.dumps(entry)} is not "name: value"')
                return None
            pairs[name.strip()] = setting.strip()
        return pairs
    if not isinstance(value, dict):
        problems.add(path, f'{key} must be "name: value; ..." or an object, not {describe(value)}')
        return None
    for name, setting in value.items():
        if isinstance(setting, bool) or not isinstance(setting, str | int | float):
            problems.add(
                path,
                f"{key} value of {json.dumps(name)} must be a string or a number, "
                f"not {describe(setting)}",
            )
            return None
        pairs[str(name)] = str(setting)
    return pairs
