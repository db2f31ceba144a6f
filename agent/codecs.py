"""The codec catalog: how each codec id of a job becomes an output module and a file type.

A job names a codec by the ids Nexrender Cloud uses (video_h264_vbr_15mbps, image_png, ...).
After Effects renders only what its output-module templates describe, so each id maps to a
stock template and an extension. Codecs that no stock template writes (H.264 at 1 Mbps,
constant bit rate, PNG and JPEG sequences) render to the `Lossless` template and then go
through an ffmpeg encode step. The catalog is plain data: `aefarm-agent --codec-catalog FILE`
adds or replaces entries from a JSON file (load_catalog).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

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
# Width in pixels that a preview is scaled down to when its composition is wider.
PREVIEW_MAX_WIDTH = 640


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
    With both, After Effects writes the intermediate with output_module and ffmpeg encodes it.
    native_fallback is the encode used instead of output_module on engines whose version has
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
    # A preview is small and fast on every engine: Draft Settings to the lossless intermediate,
    # then a 1 Mbps encode at most 640 pixels wide. No stock template scales the output down.
    PREVIEW: Codec(
        PREVIEW,
        output_module=None,
        extension=".mp4",
        encode=Encode("h264", 1_000, "vbr", max_width=PREVIEW_MAX_WIDTH),
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


_ENCODE_FORMATS = ("h264", "png", "jpeg")
_RATE_CONTROLS = ("vbr", "cbr")


class CatalogError(ValueError):
    """An invalid codec catalog file; the message names the file, the codec id and the field."""


def load_catalog(path: Path | None, base: Mapping[str, Codec] = CODECS) -> dict[str, Codec]:
    """Return base with the entries of the JSON file at path added or replaced.

    The file is an object of codec id -> {"output_module": str | null, "extension": ".mov",
    "encode": null | {"format": "h264" | "png" | "jpeg", "bitrate_kbps": int,
    "rate_control": "vbr" | "cbr", "max_width": int | null}}. An entry needs an output module,
    an encode, or both (After Effects writes the file, then ffmpeg re-encodes it).
    """
    catalog = dict(base)
    if path is None:
        return catalog
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CatalogError(f"cannot read codec catalog {path}: {error}") from error
    if not isinstance(document, dict):
        raise CatalogError(f"codec catalog {path} must be a JSON object of codec id -> entry")
    for codec_id, entry in document.items():
        catalog[codec_id] = _catalog_entry(path, codec_id, entry)
        logger.info("codec catalog %s: %s = %s", path, codec_id, catalog[codec_id])
    return catalog


def _catalog_entry(path: Path, codec_id: str, entry: object) -> Codec:
    where = f"codec catalog {path}, codec {codec_id!r}"
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: the entry must be an object, not {entry!r}")
    unknown = set(entry) - {"output_module", "extension", "encode"}
    if unknown:
        raise CatalogError(
            f"{where}: unknown fields {sorted(unknown)}; use output_module, extension, encode"
        )
    output_module = entry.get("output_module")
    if output_module is not None and (not isinstance(output_module, str) or not output_module):
        raise CatalogError(f"{where}: output_module must be a template name or null")
    encode = _catalog_encode(where, entry.get("encode"))
    if output_module is None and encode is None:
        raise CatalogError(f"{where}: give output_module, encode, or both")

    extension = entry.get("extension")
    if extension is None and encode is not None:
        extension = encode.extension
    if not isinstance(extension, str) or not extension.startswith(".") or len(extension) < 2:
        raise CatalogError(f'{where}: extension must be a file extension such as ".mov"')
    if encode is not None:
        extension = encode.extension
    return Codec(codec_id, output_module, extension, encode=encode)


def _catalog_encode(where: str, value: object) -> Encode | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: encode must be an object or null")
    raw = cast(dict[str, Any], value)
    unknown = set(raw) - {"format", "bitrate_kbps", "rate_control", "max_width"}
    if unknown:
        raise CatalogError(
            f"{where}: unknown encode fields {sorted(unknown)}; "
            "use format, bitrate_kbps, rate_control, max_width"
        )
    encode_format = raw.get("format")
    if encode_format not in _ENCODE_FORMATS:
        raise CatalogError(f"{where}: encode.format must be one of {', '.join(_ENCODE_FORMATS)}")
    bitrate = raw.get("bitrate_kbps", 0)
    if not isinstance(bitrate, int) or isinstance(bitrate, bool) or bitrate < 0:
        raise CatalogError(f"{where}: encode.bitrate_kbps must be a whole number of kbit/s")
    if encode_format == "h264" and bitrate == 0:
        raise CatalogError(f"{where}: an h264 encode needs encode.bitrate_kbps above 0")
    rate_control = raw.get("rate_control", "vbr")
    if rate_control not in _RATE_CONTROLS:
        raise CatalogError(f"{where}: encode.rate_control must be vbr or cbr")
    max_width = raw.get("max_width")
    if max_width is not None and (not isinstance(max_width, int) or max_width < 2):
        raise CatalogError(f"{where}: encode.max_width must be a width in pixels or null")
    return Encode(encode_format, bitrate, rate_control, max_width)
