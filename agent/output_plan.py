"""Choose the output module, render settings and output files of one render.

The plan combines the job's settings (codec, quality, preview, explicit nexrender templates)
with what the engine's version supports, and decides whether an ffmpeg encode step follows the
render.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from agent import codecs
from agent.codecs import Codec, Encode
from agent.engines import capabilities
from agent.errors import LeaseFailure
from protos import common_pb2

logger = logging.getLogger(__name__)

BEST_SETTINGS = "Best Settings"
DRAFT_SETTINGS = "Draft Settings"

# nexrender's outputExt values that mean an image sequence named result_[#####].<ext>.
SEQUENCE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "tif", "tiff", "tga"})
# Codec used when a job gives only an outputExt and no outputModule.
_CODEC_BY_EXTENSION = {
    "mp4": codecs.DEFAULT_CODEC,
    "mov": "video_prores_422",
    "png": "image_png",
    "jpg": "image_jpeg",
    "jpeg": "image_jpeg",
}

RESULT_STEM = "result"


@dataclass(frozen=True)
class OutputPlan:
    output_module: str
    render_settings: str
    # The -output path; contains [#####] when After Effects writes an image sequence.
    render_output: Path
    render_sequence: bool
    # The ffmpeg step after the render, or None when After Effects writes the final output.
    encode: Encode | None
    # Folder that receives the published files.
    output_dir: Path


def render_settings_template(settings: common_pb2.RenderSettings) -> str:
    if settings.render_settings_template:
        return settings.render_settings_template
    if settings.preview or settings.quality == "draft":
        return DRAFT_SETTINGS
    return BEST_SETTINGS


def plan_output(
    settings: common_pb2.RenderSettings,
    engine_version: str,
    workspace: Path,
    *,
    catalog: Mapping[str, Codec] = codecs.CODECS,
    output_modules: Collection[str] | None = None,
) -> OutputPlan:
    """Return the output plan of one render in workspace.

    output_modules lists the engine's output-module templates when they are known; template
    names of the catalog are then matched against it by normalised whitespace.
    """
    output_dir = workspace / "out"
    render_settings = render_settings_template(settings)
    if settings.output_module:
        return _explicit_plan(settings, render_settings, output_dir)

    codec = _select_codec(settings, catalog)
    native_h264 = capabilities(engine_version).get("native_h264", False)
    encode = codec.encode
    output_module = codec.output_module
    if output_module is not None and codec.native_fallback is not None and not native_h264:
        logger.info(
            "engine version %s has no native H.264 templates: codec %s renders to %s and "
            "encodes with ffmpeg",
            engine_version,
            codec.codec_id,
            codecs.LOSSLESS,
        )
        output_module = None
        encode = codec.native_fallback

    if output_module is None or encode is not None:
        if encode is None:
            raise ValueError(f"codec {codec.codec_id!r} has neither output module nor encode")
        # The extension is a guess: Lossless writes .mov since AE 2022 and .avi before, and
        # the output is found under either name after the render.
        intermediate_module = output_module or codecs.LOSSLESS
        return OutputPlan(
            output_module=codecs.match_template(intermediate_module, output_modules),
            render_settings=render_settings,
            render_output=workspace / "render" / "intermediate.mov",
            render_sequence=False,
            encode=encode,
            output_dir=output_dir,
        )
    return OutputPlan(
        output_module=codecs.match_template(output_module, output_modules),
        render_settings=render_settings,
        render_output=output_dir / f"{RESULT_STEM}{codec.extension}",
        render_sequence=False,
        encode=None,
        output_dir=output_dir,
    )


def _explicit_plan(
    settings: common_pb2.RenderSettings, render_settings: str, output_dir: Path
) -> OutputPlan:
    extension = settings.output_ext.lstrip(".").lower() or "mp4"
    sequence = extension in SEQUENCE_EXTENSIONS
    name = f"{RESULT_STEM}_[#####].{extension}" if sequence else f"{RESULT_STEM}.{extension}"
    return OutputPlan(
        output_module=settings.output_module,
        render_settings=render_settings,
        render_output=output_dir / name,
        render_sequence=sequence,
        encode=None,
        output_dir=output_dir,
    )


def _select_codec(settings: common_pb2.RenderSettings, catalog: Mapping[str, Codec]) -> Codec:
    if settings.preview:
        codec_id = codecs.PREVIEW
    elif settings.codec:
        codec_id = settings.codec
    elif settings.output_ext:
        extension = settings.output_ext.lstrip(".").lower()
        if extension not in _CODEC_BY_EXTENSION:
            raise LeaseFailure(
                "unsupported_output",
                f"outputExt {settings.output_ext!r} has no stock output module; give an "
                f"outputModule that writes it, or use one of "
                f"{', '.join(sorted(_CODEC_BY_EXTENSION))}",
            )
        codec_id = _CODEC_BY_EXTENSION[extension]
    elif settings.output_type == "image":
        codec_id = codecs.DEFAULT_IMAGE_CODEC
    else:
        codec_id = codecs.DEFAULT_CODEC

    try:
        return codecs.lookup_codec(codec_id, catalog)
    except codecs.UnknownCodec as error:
        raise LeaseFailure("unknown_codec", f"settings.codec: {error}") from error
