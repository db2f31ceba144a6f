"""Nested jobs written as a complete job in a job field: joins as inputs of renders and joins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.jobspec.models import JobSpec, JoinInput, Webhook
from controller.jobspec.parse import JobRejected, parse_job_object, resolve_local_sources
from controller.validation import validate_job
from controller.webhooks import WebhookConfig, url_problems

VIDEO = {"type": "video", "src": "https://cdn.example.com/bumper.mp4"}
RENDER_INPUT = {"type": "job", "template": {"id": "tpl_intro", "composition": "Intro"}}


def join(*inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "join", "assets": list(inputs), **fields}


def parent(*assets: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Return a render of composition Final whose assets are the given ones."""
    return {
        "template": {"id": "tpl_final", "composition": "Final"},
        "assets": list(assets),
        **fields,
    }


def nested(job: Any, **fields: Any) -> dict[str, Any]:
    return {"type": "job", "layerName": "Clips", "job": job, **fields}


def problems_of(job: object) -> dict[str, str]:
    with pytest.raises(JobRejected) as caught:
        parse_job_object(job)
    return {problem.path: problem.reason for problem in caught.value.problems}


def test_join_in_render_parses() -> None:
    text = {"type": "text", "layerName": "Headline", "value": "News"}
    job = parent(
        text,
        nested(join(RENDER_INPUT, VIDEO, settings={"codec": "video_prores_422"})),
        settings={"engine": "ae2025"},
    )

    spec = parse_job_object(job)

    assert len(spec.assets) == 1
    [child] = spec.children
    assert (child.layer_name, child.composition) == ("Clips", None)
    assert child.job.kind == "join"
    assert child.job.settings.codec == "video_prores_422"
    first, second = child.job.join_inputs
    assert first.job is not None
    assert first.job.template is not None
    assert first.job.template.composition == "Intro"
    assert second == JoinInput(src="https://cdn.example.com/bumper.mp4")


def test_join_in_render_inherits_engine() -> None:
    job = parent(nested(join(RENDER_INPUT)), settings={"engine": "ae2025"})

    join_spec = parse_job_object(job).children[0].job

    assert join_spec.settings.engine == "ae2025"
    input_job = join_spec.join_inputs[0].job
    assert input_job is not None
    assert input_job.settings.engine == "ae2025"


def test_join_engine_overrides_parent() -> None:
    job = parent(nested(join(RENDER_INPUT, settings={"engine": "ae2026"})))
    job["settings"] = {"engine": "ae2025"}

    input_job = parse_job_object(job).children[0].job.join_inputs[0].job

    assert input_job is not None
    assert input_job.settings.engine == "ae2026"


def test_join_in_render_keeps_join_fields() -> None:
    inner = join(
        VIDEO,
        webhook={"url": "http://127.0.0.1:8080/joined"},
        priority=4,
        tags="ffmpeg",
    )

    join_spec = parse_job_object(parent(nested(inner, composition="Final"))).children[0]

    assert join_spec.composition == "Final"
    assert join_spec.job.webhook == Webhook(url="http://127.0.0.1:8080/joined")
    assert join_spec.job.priority == 4
    assert join_spec.job.tags == ["ffmpeg"]


def test_join_of_join_parses() -> None:
    job = join(VIDEO, {"type": "job", "job": join(RENDER_INPUT, VIDEO)})

    spec = parse_job_object(job)

    inner = spec.join_inputs[1].job
    assert inner is not None
    assert inner.kind == "join"
    assert len(inner.join_inputs) == 2
    assert inner.join_inputs[0].job is not None


def test_render_in_job_field_equals_inline() -> None:
    render = {
        "template": {"id": "tpl_lower", "composition": "Lower"},
        "assets": [{"type": "text", "layerName": "Title", "value": "Ada"}],
        "settings": {"frames": [0, 9]},
    }
    inline = parse_job_object(parent({"type": "job", "layerName": "Clips", **render}))
    wrapped = parse_job_object(parent(nested(render)))

    assert wrapped.children == inline.children


def test_render_in_job_field_takes_top_level_fields() -> None:
    render = {
        "template": {"id": "tpl_lower", "composition": "Lower"},
        "fonts": ["Brand.otf"],
        "webhook": {"url": "http://127.0.0.1:8080/lower"},
    }

    child = parse_job_object(parent(nested(render))).children[0].job

    assert child.kind == "render"
    assert child.fonts == ["Brand.otf"]
    assert child.webhook == Webhook(url="http://127.0.0.1:8080/lower")


VALID_JOIN = join(VIDEO)

REJECTIONS = [
    ("job not an object", parent(nested("join")), "$.assets[0].job", ("object", '"join"')),
    ("job null without render", parent(nested(None)), "$.assets[0].template", ("template",)),
    ("join input in join wrong",
     parent(nested(join({"type": "video", "src": "clip.mp4"}))),
     "$.assets[0].job.assets[0].src", ('"clip.mp4"', "relative")),
    ("join unknown field", parent(nested({**VALID_JOIN, "layerName": "X"})),
     "$.assets[0].job.layerName", ('"layerName"',)),
    ("join without clips", parent(nested(join())), "$.assets[0].job.assets", ("at least one",)),
    ("join image codec", parent(nested(join(VIDEO, settings={"codec": "image_png"}))),
     "$.assets[0].job.settings.codec", ('"image_png"',)),
    ("join input render invalid",
     parent(nested(join({"type": "job", "template": {"id": "t"}}))),
     "$.assets[0].job.assets[0].template.composition", ("composition",)),
    ("job field type unknown", parent(nested({"type": "render", "template": {"id": "t"}})),
     "$.assets[0].job.type", ('"render"', '"join"')),
    ("nested job without layerName", parent({"type": "job", "job": VALID_JOIN}),
     "$.assets[0].layerName", ("layerName",)),
    ("join input job not an object", join({"type": "job", "job": []}), "$.assets[0].job",
     ("object",)),
    ("join of join without clips", join({"type": "job", "job": join()}),
     "$.assets[0].job.assets", ("at least one",)),
    ("join of join input invalid", join({"type": "job", "job": join({"type": "video"})}),
     "$.assets[0].job.assets[0].src", ("src",)),
    ("join input with layerName", join({"type": "job", "layerName": "X", "job": VALID_JOIN}),
     "$.assets[0].layerName", ('"layerName"',)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("job", "path", "words"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_rejection(job: object, path: str, words: tuple[str, ...]) -> None:
    found = problems_of(job)

    assert path in found, found
    for word in words:
        assert word in found[path], f"{word!r} missing from {found[path]!r}"


INLINE_FIELDS = {
    "template": {"id": "t", "composition": "C"},
    "assets": [],
    "preview": True,
    "settings": {"codec": "video_prores_422"},
}


@pytest.mark.parametrize("key", sorted(INLINE_FIELDS))
def test_job_field_with_inline_field_rejected(key: str) -> None:
    for job, path in (
        (parent(nested(VALID_JOIN, **{key: INLINE_FIELDS[key]})), "$.assets[0]"),
        (join({"type": "job", "job": VALID_JOIN, key: INLINE_FIELDS[key]}), "$.assets[0]"),
    ):
        found = problems_of(job)

        assert list(found) == [f"{path}.{key}"]
        assert f"{key} cannot be combined with job" in found[f"{path}.{key}"]
        assert "remove job" in found[f"{path}.{key}"]


def test_job_field_in_nexrender_job_rejected() -> None:
    job = {
        "uid": "job-1",
        "template": {"src": "https://cdn.example.com/t.aep", "composition": "Main"},
        "assets": [nested(VALID_JOIN)],
    }

    found = problems_of(job)

    assert list(found) == ["$"]
    assert "$.assets[0].type" in found["$"]


def test_nesting_depth_counts_joins() -> None:
    job: dict[str, Any] = join(VIDEO)
    for _ in range(11):
        job = join({"type": "job", "job": job})

    found = problems_of(job)

    assert list(found) == ["$" + ".assets[0].job" * 10 + ".assets[0]"]
    assert "10 levels" in next(iter(found.values()))


def test_local_sources_resolved_in_job_field(tmp_path: Path) -> None:
    render = {"type": "job", "template": {"src": "t/intro.aep", "composition": "Intro"}}
    job = parent(nested(join(render, {"type": "video", "src": "clips/bumper.mp4"})))
    job["template"] = {"src": "t/final.aep", "composition": "Final"}

    resolved = resolve_local_sources(job, tmp_path)

    inner = resolved["assets"][0]["job"]
    assert resolved["template"]["src"] == (tmp_path / "t" / "final.aep").as_uri()
    assert inner["assets"][0]["template"]["src"] == (tmp_path / "t" / "intro.aep").as_uri()
    assert inner["assets"][1]["src"] == (tmp_path / "clips" / "bumper.mp4").as_uri()


def test_nested_join_webhook_path() -> None:
    text = {"type": "text", "layerName": "Headline", "value": "News"}
    job = parent(text, nested(join(VIDEO, webhook={"url": "https://elsewhere.example/done"})))
    config = WebhookConfig(allowed_hosts=frozenset({"hooks.internal"}))

    found = url_problems(parse_job_object(job), config, job)

    assert [problem.path for problem in found] == ["$.assets[1].job.webhook.url"]
    assert "'elsewhere.example'" in found[0].reason


def test_stored_template_in_join_rejected_without_catalog() -> None:
    job = parent(nested(join(VIDEO, RENDER_INPUT)))
    job["template"] = {"src": "https://cdn.example.com/final.aep", "composition": "Final"}

    with pytest.raises(JobRejected) as caught:
        validate_job(json.dumps(job))

    assert [problem.path for problem in caught.value.problems] == [
        "$.assets[0].job.assets[1].template.id"
    ]


def test_join_spec_round_trips_through_json() -> None:
    spec = parse_job_object(parent(nested(join(RENDER_INPUT, VIDEO))))

    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


def test_join_in_layer_example_parses() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    job = json.loads((examples / "join-in-layer.json").read_text())

    spec = parse_job_object(resolve_local_sources(job, examples))

    [child] = spec.children
    assert child.layer_name == "LowerThird"
    assert child.job.kind == "join"
    assert [clip.job is not None for clip in child.job.join_inputs] == [True, True]
