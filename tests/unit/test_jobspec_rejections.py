"""Rejecting invalid jobs: every problem, at its JSON path, with a reason naming the value."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from controller.jobspec import models
from controller.jobspec.parse import JobRejected, Problem, parse_job, parse_job_object


def cloud_job(**fields: Any) -> dict[str, Any]:
    """Return a valid Nexrender Cloud job with fields replaced (a value of None removes one)."""
    job: dict[str, Any] = {
        "template": {"id": "tpl_main", "composition": "Main"},
        "assets": [],
        "settings": {"type": "video", "codec": "video_h264_vbr_15mbps"},
    }
    for key, value in fields.items():
        if value is None:
            job.pop(key, None)
        else:
            job[key] = value
    return job


def with_asset(asset: dict[str, Any]) -> dict[str, Any]:
    return cloud_job(assets=[asset])


def with_settings(**settings: Any) -> dict[str, Any]:
    return cloud_job(settings=settings)


def nexrender_job(**template: Any) -> dict[str, Any]:
    """Return a valid nexrender job whose template has the given fields added."""
    return {
        "uid": "job-1",
        "template": {"src": "https://cdn.example.com/t.aep", "composition": "Main", **template},
        "assets": [],
    }


def footage(**fields: Any) -> dict[str, Any]:
    asset = {"type": "image", "src": "https://cdn.example.com/logo.png", "layerName": "Logo"}
    asset.update(fields)
    return {key: value for key, value in asset.items() if value is not None}


def problems_of(job: object) -> list[Problem]:
    with pytest.raises(JobRejected) as caught:
        parse_job_object(job)
    return caught.value.problems


def find(problems: list[Problem], path: str) -> Problem:
    matches = [problem for problem in problems if problem.path == path]
    assert matches, f"no problem at {path}; got {problems}"
    return matches[0]


# (case id, job, expected path, words the reason must contain)
REJECTIONS: list[tuple[str, object, str, tuple[str, ...]]] = [
    ("not an object", ["template"], "$", ("array",)),
    ("unknown asset type", with_asset(footage(type="imag")), "$.assets[0].type",
     ('"imag"', '"image"', '"audio"', '"video"')),
    ("asset type missing", with_asset({"src": "https://x.example/a.png"}), "$.assets[0].type",
     ("missing",)),
    ("asset not an object", cloud_job(assets=["logo.png"]), "$.assets[0]", ('"logo.png"',)),
    ("footage without layer", with_asset(footage(layerName=None)), "$.assets[0].layerName",
     ("layerIndex",)),
    ("footage with both layers", with_asset(footage(layerIndex=2)), "$.assets[0]",
     ("layerName", "layerIndex")),
    ("layerIndex zero", with_asset(footage(layerName=None, layerIndex=0)),
     "$.assets[0].layerIndex", ("0", "numbered from 1")),
    ("layerIndex negative", with_asset(footage(layerName=None, layerIndex=-4)),
     "$.assets[0].layerIndex", ("-4",)),
    ("layerIndex as string", with_asset(footage(layerName=None, layerIndex="2")),
     "$.assets[0].layerIndex", ('"2"', "integer")),
    ("layerName as number", with_asset(footage(layerName=7)), "$.assets[0].layerName",
     ("7", "string")),
    ("empty composition part", with_asset(footage(composition="Main->")),
     "$.assets[0].composition", ('"Main->"',)),
    ("nested job without template",
     with_asset({"type": "job", "layerName": "Intro"}), "$.assets[0].template", ("template",)),
    ("nested job without composition",
     with_asset({"type": "job", "layerName": "Intro", "template": {"id": "tpl_intro"}}),
     "$.assets[0].template.composition", ("composition",)),
    ("nested job without layerName",
     with_asset({"type": "job", "template": {"id": "t", "composition": "C"}}),
     "$.assets[0].layerName", ("layerName",)),
    ("nested job with layerIndex",
     with_asset({"type": "job", "layerName": "A", "layerIndex": 1,
                 "template": {"id": "t", "composition": "C"}}),
     "$.assets[0].layerIndex", ("layerName",)),
    ("frames empty list", with_settings(frames=[]), "$.settings.frames", ("[]",)),
    ("frames zero", with_settings(frames=0), "$.settings.frames", ("0",)),
    ("frames count negative", with_settings(frames=-3), "$.settings.frames", ("-3",)),
    ("frames reversed", with_settings(frames=[20, 10]), "$.settings.frames",
     ("[20, 10]", "reversed")),
    ("frames negative", with_settings(frames=[-5, 10]), "$.settings.frames",
     ("[-5, 10]", "negative")),
    ("frames of three", with_settings(frames=[1, 2, 3]), "$.settings.frames", ("[1, 2, 3]",)),
    ("frames as string", with_settings(frames="0-10"), "$.settings.frames", ('"0-10"',)),
    ("unknown engine", with_settings(engine="ae2024"), "$.settings.engine",
     ('"ae2024"', '"ae2025"', '"ae2026"')),
    ("unknown codec", with_settings(codec="video_prores422"), "$.settings.codec",
     ('"video_prores422"', 'did you mean "video_prores_422"', '"image_png"')),
    ("unknown quality", with_settings(quality="best"), "$.settings.quality",
     ('"best"', '"draft"', '"full"')),
    ("unknown output type", with_settings(type="gif"), "$.settings.type", ('"gif"', '"image"')),
    ("image codec for video", with_settings(type="video", codec="image_png"),
     "$.settings.codec", ('"image_png"', '"video"')),
    ("video codec for image", with_settings(type="image", codec="video_prores_4444"),
     "$.settings.codec", ('"video_prores_4444"', '"image"')),
    ("codec for aep", with_settings(type="aep", codec="video_prores_4444"),
     "$.settings.codec", ('"aep"',)),
    ("unknown settings field", with_settings(framerate=30), "$.settings.framerate",
     ('"framerate"',)),
    ("footage without src", with_asset(footage(src=None)), "$.assets[0].src", ("src",)),
    ("static without src", with_asset({"type": "static", "name": "a.json"}),
     "$.assets[0].src", ("src",)),
    ("empty src", with_asset(footage(src="")), "$.assets[0].src", ("empty",)),
    ("relative src", with_asset(footage(src="footage/logo.png")), "$.assets[0].src",
     ('"footage/logo.png"', "relative")),
    ("unsupported scheme", with_asset(footage(src="gs://bucket/logo.png")), "$.assets[0].src",
     ('"gs://bucket/logo.png"', '"gs"', '"https"')),
    ("http without host", with_asset(footage(src="https:logo.png")), "$.assets[0].src",
     ('"https:logo.png"', "host")),
    ("bad artifact url", with_asset(footage(src="artifact://abc/logo.png")), "$.assets[0].src",
     ('"artifact://abc/logo.png"', "sha256")),
    ("drive-relative src", with_asset(footage(src="C:logo.png")), "$.assets[0].src",
     ('"C:logo.png"',)),
    ("cloud template without id or src", cloud_job(template={"composition": "Main"}),
     "$.template.src", ("template.id",)),
    ("cloud template without composition", cloud_job(template={"id": "tpl_main"}),
     "$.template.composition", ("composition",)),
    ("nexrender template without src",
     {"uid": "j", "template": {"composition": "Main"}}, "$.template.src", ("src",)),
    ("job without template", cloud_job(template=None), "$.template", ("template",)),
    ("unknown top-level field", cloud_job(webhok={"url": "https://x.example"}), "$.webhok",
     ('"webhok"', 'did you mean "webhook"')),
    ("unknown template field",
     cloud_job(template={"id": "t", "compostion": "Main", "composition": "Main"}),
     "$.template.compostion", ('"compostion"', '"composition"')),
    ("unknown nexrender template field", nexrender_job(frameStrat=0),
     "$.template.frameStrat", ('"frameStrat"', '"frameStart"')),
    ("unknown nexrender top-level field", {**nexrender_job(), "prority": 5}, "$.prority",
     ('"prority"', '"priority"')),
    ("unknown asset field", with_asset(footage(layername="Logo")), "$.assets[0].layername",
     ('"layername"', '"layerName"')),
    ("nexrender frames reversed", nexrender_job(frameStart=50, frameEnd=10),
     "$.template.frameEnd", ("10", "50")),
    ("nexrender negative frame", nexrender_job(frameStart=-1), "$.template.frameStart",
     ("-1",)),
    ("nexrender increment out of range", nexrender_job(incrementFrame=0),
     "$.template.incrementFrame", ("0", "100")),
    ("nexrender bad outputExt", nexrender_job(outputExt="mp4/x"), "$.template.outputExt",
     ('"mp4/x"',)),
    ("nexrender bad renderSettings", nexrender_job(renderSettings="Quality Best"),
     "$.template.renderSettings", ('"Quality Best"',)),
    ("unsupported postrender module",
     {**nexrender_job(), "actions": {"postrender": [{"module": "@nexrender/action-upload"}]}},
     "$.actions.postrender[0].module",
     ('"@nexrender/action-upload"', "@nexrender/action-copy", "@nexrender/action-encode")),
    ("prerender module",
     {**nexrender_job(), "actions": {"prerender": [{"module": "@nexrender/action-copy"}]}},
     "$.actions.prerender[0].module", ('"@nexrender/action-copy"', "prerender")),
    ("copy without output",
     {**nexrender_job(), "actions": {"postrender": [{"module": "@nexrender/action-copy"}]}},
     "$.actions.postrender[0].output", ("output",)),
    ("encode without preset",
     {**nexrender_job(), "actions": {"postrender": [{"module": "@nexrender/action-encode"}]}},
     "$.actions.postrender[0].preset", ("preset", "params")),
    ("unknown action stage", {**nexrender_job(), "actions": {"postrendr": []}},
     "$.actions.postrendr", ('"postrendr"', '"postrender"')),
    ("preview with settings", cloud_job(preview=True), "$.preview", ("preview", "settings")),
    ("preview not boolean", cloud_job(settings=None, preview="yes"), "$.preview", ('"yes"',)),
    ("priority as string", cloud_job(priority="high"), "$.priority", ('"high"', "number")),
    ("priority with fraction", cloud_job(priority=1.5), "$.priority", ("1.5",)),
    ("priority as boolean", cloud_job(priority=True), "$.priority", ("true",)),
    ("tags as number", cloud_job(tags=5), "$.tags", ("5",)),
    ("name with parent folder", with_asset(footage(name="../secret.png")), "$.assets[0].name",
     ('"../secret.png"', "..")),
    ("name nested parent folder", with_asset(footage(name="a/../../b.png")),
     "$.assets[0].name", ('"a/../../b.png"',)),
    ("absolute name", with_asset(footage(name="/etc/passwd")), "$.assets[0].name",
     ('"/etc/passwd"', "absolute")),
    ("windows absolute name", with_asset(footage(name="\\Windows\\x.png")),
     "$.assets[0].name", ("absolute",)),
    ("drive letter name", with_asset(footage(name="C:\\temp\\x.png")), "$.assets[0].name",
     ("drive letter",)),
    ("reserved name CON", with_asset(footage(name="CON")), "$.assets[0].name",
     ('"CON"', "CON")),
    ("reserved name nul.txt", with_asset(footage(name="nul.txt")), "$.assets[0].name",
     ('"nul.txt"', "NUL")),
    ("reserved name COM1", with_asset(footage(name="sub/COM1.png")), "$.assets[0].name",
     ('"sub/COM1.png"', "COM1")),
    ("colon in name", with_asset(footage(name="logo:v2.png")), "$.assets[0].name",
     ('"logo:v2.png"', "':'")),
    ("drive-relative name", with_asset(footage(name="c:logo.png")), "$.assets[0].name",
     ('"c:logo.png"', "drive letter")),
    ("trailing dot name", with_asset(footage(name="logo.")), "$.assets[0].name", ('"logo."',)),
    ("static name escapes",
     with_asset({"type": "static", "src": "https://x.example/a.json", "name": "../../a.json"}),
     "$.assets[0].name", ('"../../a.json"',)),
    ("font name escapes", cloud_job(fonts=["../fonts/Inter.ttf"]), "$.fonts[0]",
     ('"../fonts/Inter.ttf"',)),
    ("webhook without url", cloud_job(webhook={"method": "POST"}), "$.webhook.url", ("url",)),
    ("webhook with ftp url", cloud_job(webhook={"url": "ftp://hooks.example.com/x"}),
     "$.webhook.url", ('"ftp://hooks.example.com/x"', "http")),
    ("webhook with javascript url", cloud_job(webhook={"url": "javascript:alert(1)"}),
     "$.webhook.url", ('"javascript:alert(1)"',)),
    ("webhook url without host", cloud_job(webhook={"url": "https:///path"}),
     "$.webhook.url", ("host",)),
    ("webhook unknown method", cloud_job(webhook={"url": "https://x.example", "method": "SEND"}),
     "$.webhook.method", ('"SEND"', '"POST"')),
    ("webhook header not a string",
     cloud_job(webhook={"url": "https://x.example", "headers": {"X-Retry": 3}}),
     '$.webhook.headers["X-Retry"]', ("3", "string")),
    ("webhook header with line break",
     cloud_job(webhook={"url": "https://x.example", "headers": {"X-A": "a\r\nX-B: b"}}),
     '$.webhook.headers["X-A"]', ("line break",)),
    ("upload without provider", cloud_job(upload={"params": {}}), "$.upload.provider",
     ("provider",)),
    ("essential without property", with_asset({"type": "essential", "layerName": "A"}),
     "$.assets[0].property", ("missing", "controller")),
    ("function without code", with_asset({"type": "function", "src": "x"}),
     "$.assets[0].code", ("missing", "code")),
    ("text without value", with_asset({"type": "text", "layerName": "Title"}),
     "$.assets[0].value", ("value",)),
    ("text value not a string", with_asset({"type": "text", "layerName": "T", "value": 3}),
     "$.assets[0].value", ("3",)),
    ("data without property", with_asset({"type": "data", "layerName": "A", "value": 1}),
     "$.assets[0].property", ("property",)),
    ("data property empty part",
     with_asset({"type": "data", "layerName": "A", "property": "Effects..Color", "value": 1}),
     "$.assets[0].property", ('"Effects..Color"',)),
    ("data without value or expression",
     with_asset({"type": "data", "layerName": "A", "property": "Opacity"}),
     "$.assets[0].value", ("expression",)),
    ("script bad keyword",
     with_asset({"type": "script", "src": "https://x.example/s.jsx", "keyword": "1NX"}),
     "$.assets[0].keyword", ('"1NX"',)),
    ("script function parameter",
     with_asset({"type": "script", "src": "https://x.example/s.jsx",
                 "parameters": [{"key": "f", "value": "return 1", "type": "function"}]}),
     "$.assets[0].parameters[0].type", ('"function"',)),
    ("script parameter type mismatch",
     with_asset({"type": "script", "src": "https://x.example/s.jsx",
                 "parameters": [{"key": "n", "value": "20", "type": "number"}]}),
     "$.assets[0].parameters[0].type", ('"number"', '"20"')),
    ("script duplicate parameter",
     with_asset({"type": "script", "src": "https://x.example/s.jsx",
                 "parameters": [{"key": "n", "value": 1}, {"key": "n", "value": 2}]}),
     "$.assets[0].parameters[1].key", ('"n"',)),
    ("footage extension invalid", with_asset(footage(extension="p/ng")),
     "$.assets[0].extension", ('"p/ng"',)),
    ("sequence not boolean", with_asset(footage(sequence="yes")), "$.assets[0].sequence",
     ('"yes"', "boolean")),
    ("unknown job type", cloud_job(type="render"), "$.type", ('"render"', '"join"')),
    ("mixed shapes", {**cloud_job(), "uid": "job-1"}, "$", ("$.settings", "$.uid")),
    ("nexrender uid with slash", {**nexrender_job(), "uid": "a/b"}, "$.uid", ('"a/b"',)),
    ("join input of wrong type",
     {"type": "join", "assets": [{"type": "image", "src": "https://x.example/a.png"}]},
     "$.assets[0].type", ('"image"', '"video"')),
    ("join without inputs", {"type": "join", "assets": []}, "$.assets", ("at least one",)),
    ("join input without src", {"type": "join", "assets": [{"type": "video"}]},
     "$.assets[0].src", ("src",)),
    ("join with image codec",
     {"type": "join", "assets": [{"type": "video", "src": "https://x.example/a.mp4"}],
      "settings": {"codec": "image_png"}},
     "$.settings.codec", ('"image_png"',)),
    ("join with frames",
     {"type": "join", "assets": [{"type": "video", "src": "https://x.example/a.mp4"}],
      "settings": {"frames": 10}},
     "$.settings.frames", ("frames",)),
    ("join input job without composition",
     {"type": "join", "assets": [{"type": "job", "template": {"id": "t"}}]},
     "$.assets[0].template.composition", ("composition",)),
    ("nested job in child with bad engine",
     with_asset({"type": "job", "layerName": "A", "template": {"id": "t", "composition": "C"},
                 "settings": {"engine": "ae2030"}}),
     "$.assets[0].settings.engine", ('"ae2030"',)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("job", "path", "words"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_rejection(job: object, path: str, words: tuple[str, ...]) -> None:
    problem = find(problems_of(job), path)

    for word in words:
        assert word in problem.reason, f"{word!r} missing from {problem.reason!r}"


SNAKE_CASE_FIELDS = {
    name
    for model in (
        models.FootageAsset,
        models.DataAsset,
        models.ScriptAsset,
        models.RenderSettings,
        models.JobSpec,
        models.NestedJob,
        models.TemplateRef,
    )
    for name in model.model_fields
    if "_" in name
}


@pytest.mark.parametrize("job", [case[1] for case in REJECTIONS], ids=[c[0] for c in REJECTIONS])
def test_rejection_reasons_use_input_terms(job: object) -> None:
    problems = problems_of(job)

    paths = [problem.path for problem in problems]
    assert len(paths) == len(set(paths)), problems
    for problem in problems:
        for name in SNAKE_CASE_FIELDS:
            assert name not in problem.path, problem
            assert name not in problem.reason, problem
        # The model's own "missing" message means a required field lacks a specific one.
        assert "this field is required" not in problem.reason, problem


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"template": }', ("line 1 column 14",)),
        ('{\n  "template": {"id": "t",\n  }\n}', ("line 3 column 3",)),
        ("", ("line 1 column 1",)),
        ('{"priority": NaN}', ("NaN",)),
        (b'{"template": "\xff"}', ("UTF-8", "offset 14")),
        ("[" * 100_000 + "]" * 100_000, ("nested too deeply",)),
    ],
)
def test_invalid_json(text: str | bytes, words: tuple[str, ...]) -> None:
    with pytest.raises(JobRejected) as caught:
        parse_job(text)

    problem = find(caught.value.problems, "$")
    for word in words:
        assert word in problem.reason


def test_every_problem_reported_at_once() -> None:
    job = {
        "template": {"id": "tpl_main"},
        "assets": [
            {"type": "image", "src": "https://x.example/a.png"},
            {"type": "vidoe", "src": "https://x.example/b.mp4", "layerName": "B"},
            {
                "type": "job",
                "layerName": "Child",
                "template": {"id": "tpl_child", "composition": "Child"},
                "assets": [{"type": "audio", "src": "https://x.example/c.wav", "layerIndex": 0}],
            },
        ],
        "settings": {"engine": "ae2024", "frames": [10, 5], "codec": "h264"},
        "webhook": {"url": "mailto:ops@example.com"},
        "priority": "urgent",
    }

    paths = [problem.path for problem in problems_of(job)]

    assert sorted(paths) == sorted(
        [
            "$.template.composition",
            "$.assets[0].layerName",
            "$.assets[1].type",
            "$.assets[2].assets[0].layerIndex",
            "$.settings.engine",
            "$.settings.frames",
            "$.settings.codec",
            "$.webhook.url",
            "$.priority",
        ]
    )


def test_rejected_message_lists_every_problem() -> None:
    job = cloud_job(priority="high", settings={"engine": "ae1999", "quality": "ultra"})

    with pytest.raises(JobRejected) as caught:
        parse_job(json.dumps(job))

    message = str(caught.value)
    assert "3 problems" in message
    for problem in caught.value.problems:
        assert f"{problem.path}: {problem.reason}" in message


def test_problem_reported_once_per_path() -> None:
    problems = problems_of(with_asset(footage(src=None, layerName=None)))

    paths = [problem.path for problem in problems]
    assert len(paths) == len(set(paths))


def test_nesting_depth_is_limited() -> None:
    leaf: dict[str, Any] = {"type": "text", "layerName": "T", "value": "deep"}
    job: dict[str, Any] = {"template": {"id": "t0", "composition": "C0"}, "assets": [leaf]}
    innermost = job
    for level in range(1, 13):
        child = {
            "type": "job",
            "layerName": f"L{level}",
            "template": {"id": f"t{level}", "composition": f"C{level}"},
            "assets": [],
        }
        innermost["assets"] = [child]
        innermost = child

    problems = problems_of(job)

    assert [problem.path for problem in problems] == ["$" + ".assets[0]" * 11]
    assert "10 levels" in problems[0].reason


def test_bookkeeping_fields_are_ignored() -> None:
    job = nexrender_job()
    job.update(
        {
            "type": "default",
            "state": "finished",
            "output": "C:/renders/out.mp4",
            "onChange": None,
            "onRenderProgress": None,
            "onRenderError": None,
            "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-01T00:00:00Z",
            "startedAt": "2024-01-01T00:00:00Z",
            "finishedAt": "2024-01-01T00:00:00Z",
            "errorAt": None,
            "error": None,
            "renderProgress": 100,
            "workpath": "/tmp/nexrender/job-1",
            "jobCreator": "10.0.0.1",
            "jobExecutor": "10.0.0.2",
            "creator": "10.0.0.1",
            "executor": "10.0.0.2",
        }
    )

    spec = parse_job_object(copy.deepcopy(job))

    assert spec.shape == "nexrender"
    assert spec.uid == "job-1"
