"""Nexrender Cloud function assets: parsing, rejections at their JSON path, and the task."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agent.fetch import Fetcher
from agent.inputs import fetch_task_inputs
from controller.jobspec import models
from controller.jobspec.parse import JobRejected, parse_job_object
from controller.jobspec.scripts import MAX_FUNCTION_CODE_BYTES
from controller.jobtree import build_job_tree
from controller.tasks import build_task
from protos import common_pb2
from tests.unit.test_script_host_support import HOSTILE_VALUES

CODE = "var main = app.project.item(1);\nmain.comment = NX.get('title');\n"


def cloud_job(*assets: dict[str, Any]) -> dict[str, Any]:
    return {"template": {"src": "https://cdn.example.com/t.aep", "composition": "Main"},
            "assets": list(assets)}  # fmt: skip


def function(**fields: Any) -> dict[str, Any]:
    asset: dict[str, Any] = {"type": "function", "code": CODE}
    asset.update(fields)
    return {key: value for key, value in asset.items() if value is not None}


def problems(job: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(JobRejected) as caught:
        parse_job_object(job)
    return {problem.path: problem.reason for problem in caught.value.problems}


def test_function_asset_parses() -> None:
    parameters = {"title": HOSTILE_VALUES[0], "list": HOSTILE_VALUES, "n": 3, "none": None}
    spec = parse_job_object(cloud_job(function(parameters=parameters, keyword="FN")))
    asset = spec.assets[0]

    assert spec.shape == "cloud"
    assert isinstance(asset, models.FunctionAsset)
    assert asset.code == CODE
    assert asset.keyword == "FN"
    assert asset.parameters == parameters


def test_function_asset_defaults() -> None:
    asset = parse_job_object(cloud_job(function())).assets[0]

    assert isinstance(asset, models.FunctionAsset)
    assert asset.keyword == "NX"
    assert asset.parameters == {}


def test_function_asset_becomes_script_with_code() -> None:
    parameters = {"title": HOSTILE_VALUES[3], "list": HOSTILE_VALUES}
    spec = parse_job_object(cloud_job(function(parameters=parameters)))
    (record,) = build_job_tree(spec, 0.0, lambda: "job-1").jobs
    message = build_task(record).assets[0]

    assert message.WhichOneof("kind") == "script"
    assert message.script.code == CODE
    assert message.script.src == ""
    assert message.script.keyword == "NX"
    assert json.loads(message.script.parameters_json) == parameters


@pytest.mark.parametrize(
    ("asset", "path", "words"),
    [
        (function(code=None), "$.assets[0].code", ("missing", "code")),
        (function(code=""), "$.assets[0].code", ("empty",)),
        (function(code=" \n\t"), "$.assets[0].code", ("empty",)),
        (function(code=["x"]), "$.assets[0].code", ("string", "array")),
        (function(code="a\0b"), "$.assets[0].code", ("NUL",)),
        (function(code="\ud800"), "$.assets[0].code", ("surrogate",)),
        (
            function(code="x" * (MAX_FUNCTION_CODE_BYTES + 1)),
            "$.assets[0].code",
            (str(MAX_FUNCTION_CODE_BYTES + 1), "script asset"),
        ),
        (function(parameters=[{"key": "a", "value": 1}]), "$.assets[0].parameters", ("object",)),
        (function(parameters="a=1"), "$.assets[0].parameters", ("object", '"a=1"')),
        (function(keyword="1NX"), "$.assets[0].keyword", ('"1NX"', "identifier")),
        (function(keyword=7), "$.assets[0].keyword", ("7",)),
        (function(src="https://x.example/s.jsx"), "$.assets[0].src", ('"src"',)),
    ],
)
def test_function_asset_rejections(
    asset: dict[str, Any], path: str, words: tuple[str, ...]
) -> None:
    found = problems(cloud_job(asset))

    assert path in found, found
    for word in words:
        assert word in found[path]


def test_multibyte_code_counts_bytes() -> None:
    # Each "é" is two UTF-8 bytes, so this code is one byte over the limit.
    code = "é" * (MAX_FUNCTION_CODE_BYTES // 2) + "x"
    found = problems(cloud_job(function(code=code)))

    assert str(MAX_FUNCTION_CODE_BYTES + 1) in found["$.assets[0].code"]


def test_nul_in_parameters_is_allowed() -> None:
    asset = parse_job_object(cloud_job(function(parameters={"a": "x\0y"}))).assets[0]

    assert isinstance(asset, models.FunctionAsset)
    assert asset.parameters == {"a": "x\0y"}


def test_function_asset_is_cloud_only() -> None:
    job = cloud_job(function())
    job["uid"] = "nexrender-job"
    found = problems(job)

    assert any("function" in reason or "shape" in reason for reason in found.values()), found


def test_agent_writes_code_to_workspace(tmp_path: Path) -> None:
    template = tmp_path / "t.aep"
    template.write_bytes(b"not parsed here")
    task = common_pb2.RenderTask(template_src=template.as_uri(), composition="Main")
    for code in (CODE, "// second\n" + HOSTILE_VALUES[3]):
        task.assets.append(
            common_pb2.Asset(
                script=common_pb2.ScriptAsset(code=code, keyword="FN", parameters_json='{"a": 1}')
            )
        )
    workspace = tmp_path / "ws"
    workspace.mkdir()
    inputs = asyncio.run(fetch_task_inputs(task, workspace, Fetcher([tmp_path])))

    assert [run.path.name for run in inputs.scripts] == ["function-1.jsx", "function-2.jsx"]
    assert inputs.scripts[0].path.read_text(encoding="utf-8") == CODE
    assert inputs.scripts[1].path.read_bytes().decode("utf-8").endswith(HOSTILE_VALUES[3])
    assert inputs.scripts[0].keyword == "FN"
    assert inputs.scripts[0].parameters == {"a": 1}
    assert inputs.scripts[0].path.parent == workspace / "scripts"
