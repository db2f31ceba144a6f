"""Parsing Nexrender Cloud settings {type, frames, quality, codec, engine} into RenderSettings.

Defaults where the Nexrender Cloud documentation gives none: without a codec, a video renders
with DEFAULT_CODEC and an image sequence with image_png. Without a type, the type follows the
codec (image_* codecs render images), else it is video.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from controller.jobspec.fields import (
    Fields,
    build,
    check_choice,
    check_known_fields,
    is_integer,
    object_at,
    present,
)
from controller.jobspec.models import CODECS, DEFAULT_CODEC, ENGINES, RenderSettings
from controller.jobspec.problems import Problems, describe

logger = logging.getLogger(__name__)

SETTINGS_FIELDS = (
    "type", "frames", "quality", "codec", "engine", "hangTimeout", "maxRenderTime",
    "allowMissingFonts",
)  # fmt: skip
JOIN_SETTINGS_FIELDS = ("type", "codec", "engine")
OUTPUT_TYPES = ("video", "image", "aep")
QUALITIES = ("draft", "full")
DEFAULT_IMAGE_CODEC = "image_png"


def parse_settings(
    value: Any, at: str, problems: Problems, *, preview: bool, engine: str
) -> RenderSettings | None:
    """Parse settings, None when the job gives none. engine applies when settings name none."""
    raw = {} if value is None else object_at(value, at, problems, "settings")
    if raw is None:
        return None
    check_known_fields(raw, SETTINGS_FIELDS, at, problems)
    fields = Fields(raw, at)
    fields.put("preview", preview)
    _take_engine(fields, problems, engine)
    check_choice(raw.get("quality"), QUALITIES, "quality", fields.path("quality"), problems)
    fields.copy("quality", "quality")
    _take_output(fields, problems)
    if present(raw, "frames"):
        frames = frame_range(raw["frames"], fields.path("frames"), problems)
        if frames is not None:
            fields.put("frame_start", frames[0], "frames")
            fields.put("frame_end", frames[1], "frames")
    take_render_limits(fields, problems)
    return build(RenderSettings, fields, problems)


def take_render_limits(fields: Fields, problems: Problems) -> None:
    """Take hangTimeout and maxRenderTime (whole seconds above 0) and allowMissingFonts."""
    for key, field in (
        ("hangTimeout", "hang_timeout_seconds"),
        ("maxRenderTime", "max_render_seconds"),
    ):
        value = fields.raw.get(key)
        if is_integer(value) and value < 1:
            problems.add(
                fields.path(key),
                f"{key} is {value}; give a whole number of seconds of 1 or more, "
                "or leave it out for the agent's default",
            )
            continue
        fields.copy(field, key)
    fields.copy("allow_missing_fonts", "allowMissingFonts")


def parse_join_settings(
    value: Any, at: str, problems: Problems, *, engine: str | None = None
) -> RenderSettings | None:
    """Parse a join job's settings: the joined video's codec and the job inputs' engine.

    engine applies when the settings name none, as for a join nested in a render.
    """
    raw = {} if value is None else object_at(value, at, problems, "settings")
    if raw is None:
        return None

    unused = ("frames", "quality")
    check_known_fields(raw, JOIN_SETTINGS_FIELDS, at, problems, ignored=unused)
    fields = Fields(raw, at)
    for key in unused:
        if key in raw:
            problems.add(
                fields.path(key),
                f"a join job concatenates whole clips, so {key} has no effect; "
                "set it in the settings of each job input instead",
            )

    output_type = raw.get("type")
    if output_type is not None and output_type != "video":
        problems.add(
            fields.path("type"),
            f'a join job writes one video, so type must be "video", not {describe(output_type)}',
        )
    codec = raw.get("codec")
    codec_path = fields.path("codec")
    if check_choice(codec, CODECS, "codec", codec_path, problems) and codec.startswith("image_"):
        problems.add(
            codec_path,
            f"codec {json.dumps(codec)} writes images, but a join job writes one video; "
            "use a video_* codec",
        )

    fields.put("output_type", "video")
    if codec is None:
        fields.put("codec", DEFAULT_CODEC)
    else:
        fields.put("codec", codec, "codec")
    _take_engine(fields, problems, engine)
    return build(RenderSettings, fields, problems)


def _take_engine(fields: Fields, problems: Problems, inherited: str | None) -> None:
    engine = fields.raw.get("engine")
    if engine is None:
        if inherited is not None:
            fields.put("engine", inherited)
        return
    check_choice(engine, ENGINES, "engine", fields.path("engine"), problems)
    fields.put("engine", engine, "engine")


def _take_output(fields: Fields, problems: Problems) -> None:
    """Take type and codec, filling in whichever is missing and rejecting a mismatch."""
    raw = fields.raw
    output_type = raw.get("type")
    codec = raw.get("codec")
    valid_type = None
    if check_choice(output_type, OUTPUT_TYPES, "type", fields.path("type"), problems):
        valid_type = output_type
    valid_codec = None
    if check_choice(codec, CODECS, "codec", fields.path("codec"), problems):
        valid_codec = codec
    codec_type = None
    if valid_codec is not None:
        codec_type = "image" if valid_codec.startswith("image_") else "video"

    if output_type is None:
        fields.put("output_type", codec_type or "video")
    else:
        fields.put("output_type", output_type, "type")
    if codec is not None:
        fields.put("codec", codec, "codec")
    elif output_type in (None, "video"):
        fields.put("codec", DEFAULT_CODEC)
    elif output_type == "image":
        fields.put("codec", DEFAULT_IMAGE_CODEC)

    if valid_type is not None and valid_codec is not None:
        _check_codec_fits(valid_type, valid_codec, fields, problems)


def _check_codec_fits(output_type: str, codec: str, fields: Fields, problems: Problems) -> None:
    path = fields.path("codec")
    if output_type == "aep":
        problems.add(
            path, 'type "aep" returns the patched project, which has no codec; remove codec'
        )
    elif output_type == "image" and not codec.startswith("image_"):
        problems.add(
            path,
            f'codec {json.dumps(codec)} writes a video, but type is "image"; '
            'use "image_png" or "image_jpeg", or set type to "video"',
        )
    elif output_type == "video" and codec.startswith("image_"):
        problems.add(
            path,
            f'codec {json.dumps(codec)} writes an image sequence, but type is "video"; '
            'use a video_* codec, or set type to "image"',
        )


def frame_range(value: Any, path: str, problems: Problems) -> tuple[int, int] | None:
    """Return (start, end), end inclusive, from frames N (frames 0 to N-1) or [start, end]."""
    if is_integer(value):
        return _frame_count_range(value, path, problems)
    if not isinstance(value, list):
        problems.add(
            path,
            "frames must be a frame count N or a range [start, end] of frame numbers, "
            f"not {describe(value)}",
        )
        return None
    if not value:
        problems.add(path, "frame range [] is empty; give [start, end], end inclusive")
        return None
    if len(value) != 2 or not all(is_integer(frame) for frame in value):
        problems.add(
            path,
            f"frame range {describe(value)} must be two whole numbers [start, end], end inclusive",
        )
        return None
    start, end = value
    if start < 0 or end < 0:
        problems.add(
            path,
            f"frame range {describe(value)} has a negative frame number; frames count from 0",
        )
        return None
    if end < start:
        problems.add(
            path,
            f"frame range {describe(value)} is reversed: end {end} is before start {start}; "
            "give [start, end] with end >= start (end is inclusive)",
        )
        return None
    return start, end


def _frame_count_range(count: int, path: str, problems: Problems) -> tuple[int, int] | None:
    if count < 0:
        problems.add(path, f"frame count {count} is negative; give a count of 1 or more")
        return None
    if count == 0:
        problems.add(path, "frame count 0 renders an empty range; give a count of 1 or more")
        return None
    return 0, count - 1
