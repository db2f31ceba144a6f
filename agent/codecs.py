"""The codec catalog: how each codec id of a job becomes an output module and a file type.

A job names a codec by the ids Nexrender Cloud uses (video_h264_vbr_15mbps, image_png, ...).
After Effects renders only what its output-module templates describe, so each id maps to a
stock template and an extension. Codecs that no stock template writes (H.264 at 1 Mbps,
constant bit rate, PNG and JPEG sequences) render to the `Lossless` template and then go
through an ffmpeg encode step. The catalog is plain data: an agent configuration can add or
replace entries by building its own dict.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

H264_15 = "H.264 - Match Render Settings - 15 Mbps"
H264_40 = "H.264 - Match Render Settings - 40 Mbps"
H264_5 = "H.264 - Match Render Settings - 5 Mbps"
PRORES_422 = "High Quality"
PRORES_4444 = "High Quality with Alpha"
LOSSLESS = "Lossless"

DEFAULT_CODEC = "video_h264_vbr_15mbps"
DEFAULT_IMAGE_CODEC = "image_png"
# Catalog key of the output used for preview renders.
PREVIEW = "preview"


@dataclass(frozen=True)
class Encode:
    """An ffmpeg step that turns the lossless intermediate into the requested format."""

    format: Literal["h264", "png", "jpeg"]
    # Target video bit rate in kbit/s; 0 for image formats.
    bitrate_kbps: int = 0
    rate_control: Literal["vbr", "cbr"] = "vbr"
    # Scale the output down to at most this width in pixels, keeping the aspect ratio.
    max_width: int | None = None

    @property
    def sequence(self) -> bool:
        return self.format in ("png", "jpeg")

    @property
    def extension(self) -> str:
        return {"h264": ".mp4", "png": ".png", "jpeg": ".jpg"}[self.format]


@dataclass(frozen=True)
class Codec:
    """One catalog entry.

    With output_module set, After Effects writes the final file itself. With encode set and
    no output_module, After Effects writes a `Lossless` intermediate and ffmpeg encodes it.
    An entry may have both: native_fallback is the encode used on engines whose version has
    no native H.264 templates (before AE 2023).
    """

    codec_id: str
    output_module: str | None
    extension: str
    encode: Encode | None = None
    native_fallback: Encode | None = None


def _h264_encode(codec_id: str, bitrate_kbps: int, rate_control: Literal["vbr", "cbr"]) -> Codec:
    return Codec(
        codec_id,
        output_module=None,
        extension=".mp4",
        encode=Encode("h264", bitrate_kbps, rate_control),
    )


def _h264_native(codec_id: str, template: str, bitrate_kbps: int) -> Codec:
    return Codec(
        codec_id,
        output_module=template,
        extension=".mp4",
        native_fallback=Encode("h264", bitrate_kbps, "vbr"),
    )


CODECS: Mapping[str, Codec] = {
    "video_h264_vbr_1mbps": _h264_encode("video_h264_vbr_1mbps", 1_000, "vbr"),
    "video_h264_vbr_5mbps": _h264_native("video_h264_vbr_5mbps", H264_5, 5_000),
    "video_h264_vbr_15mbps": _h264_native("video_h264_vbr_15mbps", H264_15, 15_000),
    "video_h264_vbr_40mbps": _h264_native("video_h264_vbr_40mbps", H264_40, 40_000),
    "video_h264_cbr_1mbps": _h264_encode("video_h264_cbr_1mbps", 1_000, "cbr"),
    "video_h264_cbr_5mbps": _h264_encode("video_h264_cbr_5mbps", 5_000, "cbr"),
    "video_h264_cbr_15mbps": _h264_encode("video_h264_cbr_15mbps", 15_000, "cbr"),
    "video_h264_cbr_40mbps": _h264_encode("video_h264_cbr_40mbps", 40_000, "cbr"),
    "video_prores_422": Codec("video_prores_422", PRORES_422, ".mov"),
    "video_prores_4444": Codec("video_prores_4444", PRORES_4444, ".mov"),
    "image_png": Codec("image_png", None, ".png", encode=Encode("png")),
    "image_jpeg": Codec("image_jpeg", None, ".jpg", encode=Encode("jpeg")),
    # A preview is small and fast: the 5 Mbps native template, or a scaled 1 Mbps encode on
    # engines without native H.264.
    PREVIEW: Codec(
        PREVIEW,
        output_module=H264_5,
        extension=".mp4",
        native_fallback=Encode("h264", 1_000, "vbr", max_width=640),
    ),
}


class UnknownCodec(ValueError):
    def __init__(self, codec_id: str, known: Collection[str]) -> None:
        names = ", ".join(sorted(name for name in known if name != PREVIEW))
        super().__init__(f"unknown codec {codec_id!r}; use one of {names}")
        self.codec_id = codec_id


def lookup_codec(codec_id: str, catalog: Mapping[str, Codec] = CODECS) -> Codec:
    """Return the catalog entry of codec_id, or raise UnknownCodec listing the known ids."""
    try:
        return catalog[codec_id]
    except KeyError:
        raise UnknownCodec(codec_id, catalog.keys()) from None


def normalize_template_name(name: str) -> str:
    """Collapse runs of whitespace to one space and strip both ends.

    The stock `H.264 - Match Render Settings - 5 Mbps` template is spelled with different
    spacing in different After Effects versions, so template names compare in this form.
    """
    return " ".join(name.split())


def match_template(name: str, available: Collection[str] | None) -> str:
    """Return the engine's spelling of the template name, comparing normalised names.

    Without a list of the engine's templates, or when none matches, name is returned as it
    is, and aerender then reports that the template is missing.
    """
    if not available:
        return name
    key = normalize_template_name(name)
    for candidate in available:
        if normalize_template_name(candidate) == key:
            return candidate
    return name
