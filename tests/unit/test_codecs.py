"""The codec catalog and the output plan that picks templates and the encode step."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import codecs
from agent.errors import LeaseFailure
from agent.output_plan import BEST_SETTINGS, DRAFT_SETTINGS, plan_output
from protos import common_pb2

# The codec ids Nexrender Cloud documents.
CLOUD_CODECS = [
    "video_h264_vbr_1mbps",
    "video_h264_vbr_5mbps",
    "video_h264_vbr_15mbps",
    "video_h264_vbr_40mbps",
    "video_h264_cbr_1mbps",
    "video_h264_cbr_5mbps",
    "video_h264_cbr_15mbps",
    "video_h264_cbr_40mbps",
    "video_prores_422",
    "video_prores_4444",
    "image_png",
    "image_jpeg",
]
WORKSPACE = Path("/w/ab12cd34")


def settings(**fields: object) -> common_pb2.RenderSettings:
    return common_pb2.RenderSettings(engine="ae2026", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("codec_id", CLOUD_CODECS)
def test_every_cloud_codec_maps(codec_id: str) -> None:
    codec = codecs.lookup_codec(codec_id)
    assert codec.codec_id == codec_id
    assert codec.output_module or codec.encode
    plan = plan_output(settings(codec=codec_id), "26.0x55", WORKSPACE)
    assert plan.output_module


@pytest.mark.parametrize(
    ("codec_id", "template", "extension"),
    [
        ("video_h264_vbr_15mbps", "H.264 - Match Render Settings - 15 Mbps", ".mp4"),
        ("video_h264_vbr_40mbps", "H.264 - Match Render Settings - 40 Mbps", ".mp4"),
        ("video_h264_vbr_5mbps", "H.264 - Match Render Settings - 5 Mbps", ".mp4"),
        ("video_prores_422", "High Quality", ".mov"),
        ("video_prores_4444", "High Quality with Alpha", ".mov"),
    ],
)
def test_native_templates(codec_id: str, template: str, extension: str) -> None:
    plan = plan_output(settings(codec=codec_id), "26.0x55", WORKSPACE)
    assert plan.output_module == template
    assert plan.encode is None
    assert plan.render_output == WORKSPACE / "out" / f"result{extension}"


@pytest.mark.parametrize(
    ("codec_id", "kbps", "rate_control"),
    [
        ("video_h264_vbr_1mbps", 1_000, "vbr"),
        ("video_h264_cbr_1mbps", 1_000, "cbr"),
        ("video_h264_cbr_5mbps", 5_000, "cbr"),
        ("video_h264_cbr_15mbps", 15_000, "cbr"),
        ("video_h264_cbr_40mbps", 40_000, "cbr"),
    ],
)
def test_h264_without_template_encodes(codec_id: str, kbps: int, rate_control: str) -> None:
    plan = plan_output(settings(codec=codec_id), "26.0x55", WORKSPACE)
    assert plan.output_module == codecs.LOSSLESS
    assert plan.render_output.parent == WORKSPACE / "render"
    assert plan.encode is not None
    assert plan.encode.format == "h264"
    assert plan.encode.bitrate_kbps == kbps
    assert plan.encode.rate_control == rate_control


@pytest.mark.parametrize(("codec_id", "image"), [("image_png", "png"), ("image_jpeg", "jpeg")])
def test_image_sequences_encode(codec_id: str, image: str) -> None:
    plan = plan_output(settings(codec=codec_id), "26.0x55", WORKSPACE)
    assert plan.output_module == codecs.LOSSLESS
    assert plan.encode is not None
    assert plan.encode.format == image
    assert plan.encode.sequence


def test_native_h264_falls_back_before_ae_2023() -> None:
    plan = plan_output(settings(codec="video_h264_vbr_15mbps"), "22.6x61", WORKSPACE)
    assert plan.output_module == codecs.LOSSLESS
    assert plan.encode is not None
    assert plan.encode.bitrate_kbps == 15_000


def test_quality_picks_render_settings() -> None:
    full = plan_output(settings(codec="video_prores_422", quality="full"), "26.0x55", WORKSPACE)
    draft = plan_output(settings(codec="video_prores_422", quality="draft"), "26.0x55", WORKSPACE)
    assert full.render_settings == BEST_SETTINGS
    assert draft.render_settings == DRAFT_SETTINGS


def test_preview_is_draft_and_small() -> None:
    plan = plan_output(settings(codec="video_prores_4444", preview=True), "26.0x55", WORKSPACE)
    assert plan.render_settings == DRAFT_SETTINGS
    assert plan.output_module == codecs.LOSSLESS
    assert plan.encode is not None
    assert plan.encode.max_width == 640
    old = plan_output(settings(preview=True), "22.0x64", WORKSPACE)
    assert old.encode is not None
    assert old.encode.max_width == 640


def test_default_codec_without_settings() -> None:
    plan = plan_output(settings(), "26.0x55", WORKSPACE)
    assert plan.output_module == codecs.H264_15
    image = plan_output(settings(output_type="image"), "26.0x55", WORKSPACE)
    assert image.encode is not None
    assert image.encode.format == "png"


def test_explicit_nexrender_templates_win() -> None:
    plan = plan_output(
        settings(
            codec="video_prores_422",
            output_module="My Studio PNG",
            render_settings_template="My Settings",
            output_ext="png",
        ),
        "26.0x55",
        WORKSPACE,
    )
    assert plan.output_module == "My Studio PNG"
    assert plan.render_settings == "My Settings"
    assert plan.encode is None
    assert plan.render_sequence
    assert plan.render_output == WORKSPACE / "out" / "result_[#####].png"


def test_explicit_output_module_with_video_extension() -> None:
    plan = plan_output(settings(output_module="Lossless", output_ext="mov"), "26.0x55", WORKSPACE)
    assert plan.render_output == WORKSPACE / "out" / "result.mov"
    assert not plan.render_sequence


def test_output_ext_alone_picks_codec() -> None:
    plan = plan_output(settings(output_ext="jpg"), "26.0x55", WORKSPACE)
    assert plan.encode is not None
    assert plan.encode.format == "jpeg"
    with pytest.raises(LeaseFailure) as failure:
        plan_output(settings(output_ext="tga"), "26.0x55", WORKSPACE)
    assert failure.value.code == "unsupported_output"
    assert "outputModule" in failure.value.message


def test_unknown_codec_fails_lease() -> None:
    with pytest.raises(LeaseFailure) as failure:
        plan_output(settings(codec="video_av1"), "26.0x55", WORKSPACE)
    assert failure.value.code == "unknown_codec"
    assert "video_av1" in failure.value.message
    assert "video_h264_vbr_15mbps" in failure.value.message
    assert not failure.value.retryable


def test_template_names_match_by_normalised_whitespace() -> None:
    installed = ["H.264 - Match Render Settings -  5 Mbps", "High Quality"]
    assert codecs.match_template(codecs.H264_5, installed) == installed[0]
    assert codecs.match_template(" High   Quality ", installed) == "High Quality"
    assert codecs.match_template("High quality", installed) == "High quality"
    assert codecs.match_template(codecs.H264_15, None) == codecs.H264_15
    plan = plan_output(
        settings(codec="video_h264_vbr_5mbps"), "26.0x55", WORKSPACE, output_modules=installed
    )
    assert plan.output_module == installed[0]


def test_catalog_is_extendable() -> None:
    catalog = dict(codecs.CODECS)
    catalog["video_dnxhr"] = codecs.Codec("video_dnxhr", "Studio DNxHR", ".mxf")
    plan = plan_output(settings(codec="video_dnxhr"), "26.0x55", WORKSPACE, catalog=catalog)
    assert plan.output_module == "Studio DNxHR"
    assert plan.render_output.name == "result.mxf"
