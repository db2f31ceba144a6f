"""Parsing jobs in the Nexrender Cloud shape: render jobs, their nested jobs, and join jobs.

A render job is {template {id | src, composition}, assets[], settings | preview, fonts, upload,
webhook, priority, tags}. Each asset of type "job" is a nested job whose output replaces the
footage of layerName in the parent. It is written in one of two ways:

- inline, as a render: {type, layerName, composition?, template, assets?, preview?, settings?};
- as a complete job: {type, layerName, composition?, job}, where job is a render job or a join
  job written exactly as a top-level job of this shape, so the output of a join can fill a
  layer.

composition there names the parent's composition that contains the layer (default: every one).
Nested jobs may have nested jobs, MAX_NESTING_DEPTH levels deep, and the job in a job field
counts at the level of its asset. A nested job that names no engine renders with its parent's
engine.

A join job is {"type": "join", assets[], settings?, webhook?, upload?, priority?, tags?}: assets
is the ordered list of clips, each {type: "video", src}, an inline render {type: "job",
template, assets?, preview?, settings?} or a complete job {type: "job", job}, which may be a
join too. Its settings take only codec (the joined video's, video_* codecs only) and engine
(inherited by its job inputs).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from controller.jobspec.assets import check_composition, parse_assets
from controller.jobspec.delivery import parse_upload, parse_webhook
from controller.jobspec.fields import (
    Fields,
    build,
    check_known_fields,
    check_not_empty,
    list_at,
    object_at,
    present,
)
from controller.jobspec.models import (
    DEFAULT_ENGINE,
    JobSpec,
    JoinInput,
    NestedJob,
    RenderSettings,
)
from controller.jobspec.names import check_workspace_name
from controller.jobspec.problems import ROOT, Problems, describe, member
from controller.jobspec.scheduling import take_scheduling
from controller.jobspec.settings import parse_join_settings, parse_settings
from controller.jobspec.sources import take_src
from controller.jobspec.templates import parse_template

logger = logging.getLogger(__name__)

CLOUD_FIELDS = (
    "template", "assets", "settings", "preview", "fonts", "upload", "webhook", "type",
    "priority", "tags",
)  # fmt: skip
# The fields of an inline nested render, which a complete job in the job field replaces.
INLINE_RENDER_FIELDS = ("template", "assets", "preview", "settings")
NESTED_JOB_FIELDS = ("type", "layerName", "composition", *INLINE_RENDER_FIELDS, "job")
JOIN_FIELDS = ("type", "assets", "settings", "webhook", "upload", "priority", "tags")
JOIN_VIDEO_FIELDS = ("type", "src")
JOIN_JOB_FIELDS = ("type", *INLINE_RENDER_FIELDS, "job")
# A guard against runaway recursion, chosen by aefarm rather than taken from After Effects.
MAX_NESTING_DEPTH = 10


def parse_cloud_job(obj: dict[str, Any], problems: Problems) -> JobSpec | None:
    """Parse a job object in the Nexrender Cloud shape; "type": "join" makes it a join job."""
    return _parse_complete_job(obj, ROOT, problems, depth=0, engine=DEFAULT_ENGINE)


def _parse_complete_job(
    obj: dict[str, Any], at: str, problems: Problems, *, depth: int, engine: str
) -> JobSpec | None:
    """Parse a render or join job written as a top-level job: the job itself or a job field."""
    if obj.get("type") == "join":
        return _parse_join_job(obj, at, problems, depth=depth, engine=engine)
    fields = Fields(obj, at)
    if present(obj, "type"):
        # The other fields mean different things in the two job types, so a check of them
        # as a render's fields would report problems that a join job does not have.
        problems.add(
            fields.path("type"),
            f'unknown job type {describe(obj["type"])}; use "join" for a join job, '
            "or leave type out for a render job",
        )
        return None
    check_known_fields(obj, CLOUD_FIELDS, at, problems)
    fields.put("shape", "cloud")
    _take_render(fields, problems, depth=depth, engine=engine)
    _take_fonts(fields, problems)
    _take_delivery(fields, problems)
    take_scheduling(fields, problems)
    return build(JobSpec, fields, problems)


def _take_render(fields: Fields, problems: Problems, *, depth: int, engine: str) -> None:
    """Take template, settings or preview, and assets of a render job or a nested job."""
    raw = fields.raw
    template = parse_template(raw.get("template"), fields.path("template"), problems)
    if template is not None:
        fields.put("template", template, "template")
    settings = _parse_preview_or_settings(fields, problems, engine)
    if settings is not None:
        fields.put("settings", settings, "settings")
    if not present(raw, "assets"):
        return
    child_engine = settings.engine if settings is not None else engine
    parse_nested = partial(
        _parse_nested_job, problems=problems, depth=depth + 1, engine=child_engine
    )
    parsed = parse_assets(raw["assets"], fields.path("assets"), problems, parse_nested)
    fields.put("assets", parsed.assets, "assets")
    fields.put("children", parsed.children, "assets")


def _parse_preview_or_settings(
    fields: Fields, problems: Problems, engine: str
) -> RenderSettings | None:
    raw = fields.raw
    preview = raw.get("preview")
    if preview is None:
        preview = False
    elif not isinstance(preview, bool):
        problems.add(
            fields.path("preview"), f"preview must be true or false, not {describe(preview)}"
        )
        preview = False
    elif preview and present(raw, "settings"):
        # Nexrender Cloud does not combine the two: a preview has its own fixed settings.
        problems.add(
            fields.path("preview"),
            "preview and settings cannot be combined, because a preview renders with its own "
            "settings; remove preview, or remove settings",
        )
    return parse_settings(
        raw.get("settings"), fields.path("settings"), problems, preview=preview, engine=engine
    )


def _parse_nested_job(
    raw: dict[str, Any], at: str, *, problems: Problems, depth: int, engine: str
) -> NestedJob | None:
    if not _check_depth(depth, at, problems):
        return None
    check_known_fields(raw, NESTED_JOB_FIELDS, at, problems, ignored=("layerIndex",))
    fields = Fields(raw, at)
    if "layerIndex" in raw:
        problems.add(
            fields.path("layerIndex"),
            "a nested job's output replaces a layer found by name; give layerName instead",
        )
    if not present(raw, "layerName"):
        problems.add(
            fields.path("layerName"),
            "missing: a nested job needs layerName, the layer in the parent's composition "
            "that shows the nested job's output",
        )
    check_not_empty(raw.get("layerName"), fields.path("layerName"), problems, "layerName")
    check_composition(raw.get("composition"), fields.path("composition"), problems)
    fields.copy("layer_name", "layerName")
    fields.copy("composition", "composition")

    job = _parse_job_of(raw, at, problems, depth=depth, engine=engine)
    if job is None:
        return None
    fields.put("job", job, "job" if present(raw, "job") else None)
    return build(NestedJob, fields, problems)


def _check_depth(depth: int, at: str, problems: Problems) -> bool:
    if depth <= MAX_NESTING_DEPTH:
        return True
    problems.add(at, f"nested jobs go deeper than {MAX_NESTING_DEPTH} levels; flatten them")
    return False


def _parse_job_of(
    raw: dict[str, Any], at: str, problems: Problems, *, depth: int, engine: str
) -> JobSpec | None:
    """Parse the job that a nested job asset or a join input describes.

    That is the complete job in its job field, or else the render its inline fields describe.
    """
    if present(raw, "job"):
        return _parse_job_field(raw, at, problems, depth=depth, engine=engine)
    fields = Fields(raw, at)
    fields.put("shape", "cloud")
    _take_render(fields, problems, depth=depth, engine=engine)
    return build(JobSpec, fields, problems)


def _parse_job_field(
    raw: dict[str, Any], at: str, problems: Problems, *, depth: int, engine: str
) -> JobSpec | None:
    for key in INLINE_RENDER_FIELDS:
        if present(raw, key):
            problems.add(
                member(at, key),
                f"{key} cannot be combined with job, because job already contains the complete "
                f"nested job; move {key} into job, or remove job",
            )
    path = member(at, "job")
    job = object_at(raw["job"], path, problems, "job")
    if job is None:
        return None
    return _parse_complete_job(job, path, problems, depth=depth, engine=engine)


def _take_fonts(fields: Fields, problems: Problems) -> None:
    value = fields.raw.get("fonts")
    if value is None:
        return
    path = fields.path("fonts")
    for index, font in enumerate(list_at(value, path, problems, "fonts") or []):
        if isinstance(font, str):
            check_workspace_name(font, member(path, index), problems, "font file name")
    fields.copy("fonts", "fonts")


def _take_delivery(fields: Fields, problems: Problems) -> None:
    raw = fields.raw
    if present(raw, "webhook"):
        webhook = parse_webhook(raw["webhook"], fields.path("webhook"), problems)
        if webhook is not None:
            fields.put("webhook", webhook, "webhook")
    if present(raw, "upload"):
        upload = parse_upload(raw["upload"], fields.path("upload"), problems)
        if upload is not None:
            fields.put("upload", upload, "upload")


def _parse_join_job(
    obj: dict[str, Any], at: str, problems: Problems, *, depth: int, engine: str
) -> JobSpec | None:
    check_known_fields(obj, JOIN_FIELDS, at, problems)
    fields = Fields(obj, at)
    fields.put("kind", "join", "type")
    fields.put("shape", "cloud")
    settings = parse_join_settings(
        obj.get("settings"), fields.path("settings"), problems, engine=engine
    )
    if settings is not None:
        fields.put("settings", settings, "settings")
    input_engine = settings.engine if settings is not None else engine
    inputs = _parse_join_inputs(
        obj.get("assets"), fields.path("assets"), problems, depth=depth + 1, engine=input_engine
    )
    fields.put("join_inputs", inputs, "assets")
    _take_delivery(fields, problems)
    take_scheduling(fields, problems)
    return build(JobSpec, fields, problems)


def _parse_join_inputs(
    value: Any, at: str, problems: Problems, *, depth: int, engine: str
) -> list[JoinInput]:
    if value is None:
        problems.add(at, "missing: a join job needs assets, the ordered list of clips to join")
        return []
    items = list_at(value, at, problems, "assets")
    if items == []:
        problems.add(at, "a join job needs at least one clip in assets")
    inputs: list[JoinInput] = []
    for index, item in enumerate(items or []):
        path = member(at, index)
        raw = object_at(item, path, problems, "a join input")
        if raw is None:
            continue
        join_input = _parse_join_input(raw, path, problems, depth=depth, engine=engine)
        if join_input is not None:
            inputs.append(join_input)
    return inputs


def _parse_join_input(
    raw: dict[str, Any], at: str, problems: Problems, *, depth: int, engine: str
) -> JoinInput | None:
    input_type = raw.get("type")
    fields = Fields(raw, at)
    if input_type == "video":
        check_known_fields(raw, JOIN_VIDEO_FIELDS, at, problems)
        take_src(fields, problems)
    elif input_type == "job":
        if not _check_depth(depth, at, problems):
            return None
        check_known_fields(raw, JOIN_JOB_FIELDS, at, problems)
        job = _parse_job_of(raw, at, problems, depth=depth, engine=engine)
        if job is None:
            return None
        fields.put("job", job, "job" if present(raw, "job") else None)
    else:
        shown = "missing" if input_type is None else f"invalid type {describe(input_type)}"
        problems.add(
            fields.path("type"),
            f'{shown}: a join job input is {{"type": "video", "src": ...}}, a render '
            '{"type": "job", "template": ...} or a complete job {"type": "job", "job": {...}}',
        )
        return None
    return build(JoinInput, fields, problems)
