"""Render tasks built from parsed jobs, and the controller's own checks of submitted jobs."""

from __future__ import annotations

import json

import pytest

from controller.jobspec.parse import JobRejected, parse_job
from controller.jobtree import build_job_tree
from controller.tasks import build_task
from controller.validation import validate_job
from protos import common_pb2

TEMPLATE = {"src": "https://cdn.example/t.aep", "composition": "main"}


def task_of(job: dict[str, object]) -> common_pb2.RenderTask:
    spec = parse_job(json.dumps(job))
    (record,) = build_job_tree(spec, 0.0, lambda: "job-1").jobs
    return build_task(record)


def test_every_asset_type_reaches_the_task() -> None:
    task = task_of(
        {
            "template": TEMPLATE,
            "assets": [
                {"type": "image", "src": "https://cdn.example/logo.png", "layerName": "Logo"},
                {"type": "data", "layerName": "Title", "property": "Source Text", "value": "Hi"},
                {
                    "type": "data",
                    "layerIndex": 2,
                    "property": "Effects.Color.Color",
                    "expression": "time",
                },
                {"type": "static", "src": "https://cdn.example/lut.cube", "name": "lut.cube"},
                {
                    "type": "script",
                    "src": "https://cdn.example/s.jsx",
                    "parameters": [{"key": "speed", "value": 2}],
                },
            ],
            "settings": {"frames": [10, 29], "codec": "video_prores_422", "engine": "ae2025"},
        }
    )
    assert (task.kind, task.template_src, task.composition) == ("render", TEMPLATE["src"], "main")

    kinds = [asset.WhichOneof("kind") for asset in task.assets]
    assert kinds == ["footage", "data", "data", "static_file", "script"]
    footage, title, color, static, script = task.assets
    assert (footage.footage.type, footage.footage.layer_name) == ("image", "Logo")
    assert (title.data.layer_name, list(title.data.property)) == ("Title", ["Source Text"])
    assert json.loads(title.data.value_json) == "Hi"
    assert (color.data.layer_index, color.data.expression) == (2, "time")
    assert color.data.value_json == ""
    assert (static.static_file.src, static.static_file.name) == (
        "https://cdn.example/lut.cube",
        "lut.cube",
    )
    assert json.loads(script.script.parameters_json) == {"speed": 2}

    settings = task.settings
    assert (settings.engine, settings.codec) == ("ae2025", "video_prores_422")
    assert (settings.has_frame_range, settings.frame_start, settings.frame_end) == (True, 10, 29)


def test_no_frame_range_means_work_area() -> None:
    settings = task_of({"template": TEMPLATE}).settings
    assert not settings.has_frame_range
    assert settings.engine == "ae2026"


def test_stored_template_rejected_in_nested_job() -> None:
    job = {
        "template": TEMPLATE,
        "assets": [
            {"type": "image", "src": "https://cdn.example/a.png", "layerName": "A"},
            {"type": "job", "layerName": "Inner", "template": {"id": "tpl-7", "composition": "c"}},
        ],
    }
    with pytest.raises(JobRejected) as caught:
        validate_job(json.dumps(job))
    assert [problem.path for problem in caught.value.problems] == ["$.assets[1].template.id"]


def test_one_ended_frame_range_rejected() -> None:
    job = {"uid": "clip-1", "template": {**TEMPLATE, "frameStart": 5}, "assets": []}
    with pytest.raises(JobRejected) as caught:
        validate_job(json.dumps(job))
    (problem,) = caught.value.problems
    assert problem.path == "$.template.frameStart"
    assert "give frameEnd" in problem.reason
