"""Parsing valid jobs of both shapes into the normalized JobSpec."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from controller.jobspec.models import (
    DEFAULT_CODEC,
    DataAsset,
    FootageAsset,
    JobSpec,
    JoinInput,
    NestedJob,
    RenderSettings,
    ScriptAsset,
    StaticAsset,
    TemplateRef,
    Webhook,
)
from controller.jobspec.parse import JobRejected, parse_job, parse_job_object

CLOUD_NESTED_JOB: dict[str, Any] = {
    "template": {"id": "tpl_news_final", "composition": "Final"},
    "assets": [
        {"type": "text", "layerName": "Headline", "value": "Storm reaches the coast"},
        {
            "type": "data",
            "layerName": "Ticker",
            "property": "Effects->Slider Control->Slider",
            "value": 42,
        },
        {
            "type": "job",
            "layerName": "LowerThird",
            "template": {"id": "tpl_lower_third", "composition": "Lower Third"},
            "assets": [
                {"type": "text", "layerName": "Name", "value": "Ada Lovelace"},
                {"type": "data", "layerIndex": 2, "property": "Transform.Opacity", "value": 80},
            ],
            "settings": {"engine": "ae2025", "quality": "draft"},
        },
        {
            "type": "job",
            "layerName": "Intro",
            "composition": "Final",
            "template": {"src": "https://templates.example.com/intro.aep", "composition": "Intro"},
            "preview": True,
        },
    ],
    "settings": {
        "type": "video",
        "frames": 250,
        "quality": "full",
        "codec": "video_h264_vbr_40mbps",
        "engine": "ae2026",
    },
    "fonts": ["Inter-Bold.ttf"],
    "webhook": {
        "url": "https://hooks.example.com/render",
        "method": "post",
        "headers": {"X-Token": "abc123"},
        "data": {"order": 17},
    },
}

NEXRENDER_JOB: dict[str, Any] = {
    "uid": "promo-2024-0042",
    "type": "default",
    "state": "queued",
    "createdAt": "2024-05-01T10:00:00.000Z",
    "priority": 5,
    "tags": "gpu, fast,",
    "template": {
        "src": "file:///mnt/templates/promo.aep",
        "composition": "Promo",
        "frameStart": 10,
        "frameEnd": 129,
        "incrementFrame": 2,
        "outputModule": "PNG Sequence",
        "outputExt": ".PNG",
        "settingsTemplate": "Best Settings",
        "renderSettings": "Quality: Best; Resolution: Full",
        "outputSettings": {"Channels": "RGB + Alpha"},
        "continueOnMissing": True,
    },
    "assets": [
        {
            "type": "image",
            "src": "https://cdn.example.com/logo.png",
            "layerName": "Logo",
            "composition": "Promo->Badge",
        },
        {
            "type": "video",
            "src": "https://cdn.example.com/media?id=7",
            "layerIndex": 3,
            "extension": "mp4",
            "useOriginal": False,
        },
        {
            "type": "audio",
            "src": "file:///mnt/audio/music.wav",
            "layerName": "Music",
            "name": "audio/music.wav",
        },
        {
            "type": "data",
            "layerName": "Price",
            "property": "Transform.Position",
            "value": [960, 540],
            "expression": "wiggle(2, 10)",
        },
        {"type": "static", "src": "https://cdn.example.com/prices.json", "name": "prices.json"},
        {
            "type": "script",
            "src": "file:///mnt/scripts/setup.jsx",
            "keyword": "PROMO",
            "parameters": [
                {"key": "title", "value": "Summer sale"},
                {"key": "discount", "value": 20, "type": "number"},
            ],
        },
    ],
    "actions": {
        "postrender": [
            {"module": "@nexrender/action-encode", "preset": "mp4", "output": "encoded.mp4"},
            {
                "module": "@nexrender/action-copy",
                "input": "encoded.mp4",
                "output": "/mnt/out/promo.mp4",
            },
        ]
    },
}


def test_cloud_nested_job_parses_into_spec() -> None:
    spec = parse_job(json.dumps(CLOUD_NESTED_JOB))

    lower_third = JobSpec(
        template=TemplateRef(id="tpl_lower_third", composition="Lower Third"),
        assets=[
            DataAsset(layer_name="Name", property=["Source Text"], value="Ada Lovelace"),
            DataAsset(layer_index=2, property=["Transform", "Opacity"], value=80),
        ],
        settings=RenderSettings(engine="ae2025", quality="draft", codec=DEFAULT_CODEC),
    )
    intro = JobSpec(
        template=TemplateRef(src="https://templates.example.com/intro.aep", composition="Intro"),
        settings=RenderSettings(engine="ae2026", preview=True, codec=DEFAULT_CODEC),
    )
    expected = JobSpec(
        kind="render",
        shape="cloud",
        template=TemplateRef(id="tpl_news_final", composition="Final"),
        assets=[
            DataAsset(
                layer_name="Headline", property=["Source Text"], value="Storm reaches the coast"
            ),
            DataAsset(
                layer_name="Ticker", property=["Effects", "Slider Control", "Slider"], value=42
            ),
        ],
        children=[
            NestedJob(layer_name="LowerThird", job=lower_third),
            NestedJob(layer_name="Intro", composition="Final", job=intro),
        ],
        settings=RenderSettings(
            engine="ae2026",
            codec="video_h264_vbr_40mbps",
            quality="full",
            output_type="video",
            frame_start=0,
            frame_end=249,
        ),
        fonts=["Inter-Bold.ttf"],
        webhook=Webhook(
            url="https://hooks.example.com/render",
            method="POST",
            headers={"X-Token": "abc123"},
            data={"order": 17},
        ),
    )
    assert spec == expected


def test_nexrender_job_parses_into_spec() -> None:
    spec = parse_job(json.dumps(NEXRENDER_JOB))

    expected = JobSpec(
        shape="nexrender",
        uid="promo-2024-0042",
        priority=5,
        tags=["gpu", "fast"],
        template=TemplateRef(src="file:///mnt/templates/promo.aep", composition="Promo"),
        assets=[
            FootageAsset(
                type="image",
                src="https://cdn.example.com/logo.png",
                layer_name="Logo",
                composition="Promo->Badge",
            ),
            FootageAsset(
                type="video",
                src="https://cdn.example.com/media?id=7",
                layer_index=3,
                name="media.mp4",
            ),
            FootageAsset(
                type="audio",
                src="file:///mnt/audio/music.wav",
                layer_name="Music",
                name="audio/music.wav",
            ),
            DataAsset(
                layer_name="Price",
                property=["Transform", "Position"],
                value=[960, 540],
                expression="wiggle(2, 10)",
            ),
            StaticAsset(src="https://cdn.example.com/prices.json", name="prices.json"),
            ScriptAsset(
                src="file:///mnt/scripts/setup.jsx",
                keyword="PROMO",
                parameters={"title": "Summer sale", "discount": 20},
            ),
        ],
        settings=RenderSettings(
            frame_start=10,
            frame_end=129,
            frame_increment=2,
            output_module="PNG Sequence",
            output_ext="png",
            output_type="image",
            render_settings_template="Best Settings",
            render_settings_overrides={"Quality": "Best", "Resolution": "Full"},
            output_settings_overrides={"Channels": "RGB + Alpha"},
            continue_on_missing_footage=True,
        ),
        actions=NEXRENDER_JOB["actions"],
    )
    assert spec == expected


def test_nexrender_video_output_ext() -> None:
    job = copy.deepcopy(NEXRENDER_JOB)
    job["template"]["outputExt"] = "mov"
    job["template"]["outputModule"] = "High Quality"

    spec = parse_job_object(job)

    assert spec.settings.output_type == "video"
    assert spec.settings.output_ext == "mov"
    assert spec.settings.codec is None


def test_nexrender_image_sequence_flag() -> None:
    job = copy.deepcopy(NEXRENDER_JOB)
    job["template"]["outputExt"] = "exr"
    job["template"]["imageSequence"] = True

    assert parse_job_object(job).settings.output_type == "image"


def test_join_job_parses_inputs_in_order() -> None:
    job = {
        "type": "join",
        "assets": [
            {"type": "video", "src": "https://cdn.example.com/opening.mp4"},
            {
                "type": "job",
                "template": {"id": "tpl_middle", "composition": "Middle"},
                "assets": [{"type": "text", "layerName": "Title", "value": "Part 2"}],
            },
            {"type": "video", "src": "artifact://" + "ab" * 32 + "/closing.mp4"},
        ],
        "settings": {"codec": "video_prores_422", "engine": "ae2025"},
        "webhook": {"url": "http://127.0.0.1:8080/done"},
        "priority": 3,
    }

    spec = parse_job_object(job)

    middle = JobSpec(
        template=TemplateRef(id="tpl_middle", composition="Middle"),
        assets=[DataAsset(layer_name="Title", property=["Source Text"], value="Part 2")],
        settings=RenderSettings(engine="ae2025", codec=DEFAULT_CODEC),
    )
    assert spec.kind == "join"
    assert spec.template is None
    assert spec.join_inputs == [
        JoinInput(src="https://cdn.example.com/opening.mp4"),
        JoinInput(job=middle),
        JoinInput(src="artifact://" + "ab" * 32 + "/closing.mp4"),
    ]
    assert spec.settings.codec == "video_prores_422"
    assert spec.priority == 3
    assert spec.webhook == Webhook(url="http://127.0.0.1:8080/done")


def _nested(layer: str, composition: str, assets: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "job",
        "layerName": layer,
        "template": {"id": f"tpl_{composition.lower()}", "composition": composition},
        "assets": assets,
        **extra,
    }


def test_children_of_children_inherit_engine() -> None:
    grandchild = _nested("Logo", "Logo", [{"type": "text", "layerName": "Brand", "value": "ACME"}])
    child = _nested("Card", "Card", [grandchild], settings={"engine": "ae2025"})
    sibling = _nested("Other", "Other", [])
    job = {
        "template": {"id": "tpl_root", "composition": "Root"},
        "assets": [child, sibling],
    }

    spec = parse_job_object(job)

    card = spec.children[0]
    assert card.layer_name == "Card"
    assert card.job.settings.engine == "ae2025"
    logo = card.job.children[0]
    assert logo.layer_name == "Logo"
    assert logo.job.template == TemplateRef(id="tpl_logo", composition="Logo")
    assert logo.job.assets == [
        DataAsset(layer_name="Brand", property=["Source Text"], value="ACME")
    ]
    assert logo.job.settings.engine == "ae2025"
    assert spec.children[1].job.settings.engine == "ae2026"


def test_cloud_settings_defaults() -> None:
    base = {"template": {"id": "t", "composition": "Main"}}
    cases = [
        ({}, "video", DEFAULT_CODEC),
        ({"type": "image"}, "image", "image_png"),
        ({"codec": "image_jpeg"}, "image", "image_jpeg"),
        ({"type": "aep"}, "aep", None),
    ]
    for settings, output_type, codec in cases:
        spec = parse_job_object({**base, "settings": settings})
        assert spec.settings.output_type == output_type, settings
        assert spec.settings.codec == codec, settings
        assert spec.settings.engine == "ae2026", settings


def test_frames_range_is_inclusive() -> None:
    job = {"template": {"id": "t", "composition": "Main"}, "settings": {"frames": [24, 24]}}

    settings = parse_job_object(job).settings

    assert settings.frame_start == 24
    assert settings.frame_end == 24


def test_ambiguous_job_reads_as_cloud() -> None:
    job = {
        "template": {"src": "https://cdn.example.com/t.aep", "composition": "Main"},
        "assets": [{"type": "image", "src": "https://cdn.example.com/a.png", "layerName": "A"}],
        "tags": ["gpu"],
    }

    spec = parse_job_object(job)

    assert spec.shape == "cloud"
    assert spec.settings.codec == DEFAULT_CODEC
    assert spec.tags == ["gpu"]


def test_bytes_with_bom_parse() -> None:
    text = "\ufeff" + json.dumps({"template": {"id": "t", "composition": "Haupt-Komp"}})

    spec = parse_job(text.encode("utf-8"))

    assert spec.template == TemplateRef(id="t", composition="Haupt-Komp")


def test_local_paths_become_file_uris() -> None:
    job = {
        "template": {"src": "/mnt/share/t.aep", "composition": "Main"},
        "assets": [
            {"type": "image", "src": "C:\\footage\\my logo.png", "layerName": "Logo"},
            {"type": "static", "src": "\\\\nas\\share\\data.json"},
        ],
    }

    spec = parse_job_object(job)

    assert spec.template is not None
    assert spec.template.src == "file:///mnt/share/t.aep"
    assert isinstance(spec.assets[0], FootageAsset)
    assert spec.assets[0].src == "file:///C:/footage/my%20logo.png"
    assert isinstance(spec.assets[1], StaticAsset)
    assert spec.assets[1].src == "file://nas/share/data.json"


def test_artifact_src_sets_sha256() -> None:
    digest = "0f" * 32
    job = {
        "template": {"id": "t", "composition": "Main"},
        "assets": [{"type": "video", "src": f"artifact://{digest}/clip.mp4", "layerName": "Clip"}],
    }

    asset = parse_job_object(job).assets[0]

    assert isinstance(asset, FootageAsset)
    assert asset.sha256 == digest


def test_upload_kept_as_submitted() -> None:
    upload = {"provider": "s3", "params": {"bucket": "renders", "key": "out/final.mp4"}}
    job = {"template": {"id": "t", "composition": "Main"}, "upload": upload}

    assert parse_job_object(job).upload == upload


def test_null_optional_fields_count_as_missing() -> None:
    job = {
        "template": {"id": "t", "src": None, "composition": "Main"},
        "assets": [
            {
                "type": "image",
                "src": "https://x.example/a.png",
                "layerName": "A",
                "layerIndex": None,
            }
        ],
        "webhook": None,
    }

    spec = parse_job_object(job)

    assert spec.webhook is None
    assert isinstance(spec.assets[0], FootageAsset)
    assert spec.assets[0].layer_index is None


def test_spec_round_trips_through_json() -> None:
    spec = parse_job(json.dumps(CLOUD_NESTED_JOB))

    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize("job", [CLOUD_NESTED_JOB, NEXRENDER_JOB])
def test_parse_leaves_input_unchanged(job: dict[str, Any]) -> None:
    before = copy.deepcopy(job)

    parse_job_object(job)

    assert job == before


def test_rejection_is_value_error() -> None:
    with pytest.raises(ValueError) as caught:
        parse_job("[]")

    assert isinstance(caught.value, JobRejected)


def test_every_match_flag_parsed() -> None:
    job = {
        "template": {"src": "file:///t.aep", "composition": "Main"},
        "assets": [
            {"type": "image", "src": "file:///a.png", "layerName": "Slot", "everyMatch": True}
        ],
    }

    spec = parse_job(json.dumps(job))

    assert spec.assets[0].every_match is True


def test_every_match_must_be_boolean() -> None:
    job = {
        "template": {"src": "file:///t.aep", "composition": "Main"},
        "assets": [
            {"type": "image", "src": "file:///a.png", "layerName": "Slot", "everyMatch": "yes"}
        ],
    }

    with pytest.raises(JobRejected) as caught:
        parse_job(json.dumps(job))

    assert [problem.path for problem in caught.value.problems] == ["$.assets[0].everyMatch"]
