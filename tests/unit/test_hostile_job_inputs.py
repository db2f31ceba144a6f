"""Hostile job text: surrogates, deep nesting, huge numbers and misleading shapes at submit.

Every case must end in JobRejected with a problem at the value's JSON path, never in another
exception, and every path and reason must be encodable, because the controller sends them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.jobspec.limits import MAX_DEPTH
from controller.jobspec.parse import JobRejected, parse_job

TEMPLATE = {"src": "file:///t.aep", "composition": "Main"}


def problems(text: str) -> dict[str, str]:
    with pytest.raises(JobRejected) as caught:
        parse_job(text)
    found = {problem.path: problem.reason for problem in caught.value.problems}
    for path, reason in found.items():
        # A lone surrogate in either would make the reply impossible to encode.
        path.encode("utf-8")
        reason.encode("utf-8")
    return found


def job_text(**fields: Any) -> str:
    return json.dumps({"template": TEMPLATE, **fields})


def function_asset(**fields: Any) -> dict[str, Any]:
    return {"type": "function", "code": "var x = 1;", **fields}


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (
            job_text(assets=[{"type": "essential", "property": "Headline", "value": "a\ud800"}]),
            "$.assets[0].value",
        ),
        (job_text(assets=[function_asset(code="x\udc00")]), "$.assets[0].code"),
        (
            job_text(assets=[function_asset(parameters={"title": "\ud800"})]),
            "$.assets[0].parameters.title",
        ),
        (
            job_text(webhook={"url": "http://127.0.0.1:1/", "data": {"a": ["\udfff"]}}),
            "$.webhook.data.a[0]",
        ),
    ],
)
def test_unpaired_surrogate_rejected(text: str, path: str) -> None:
    found = problems(text)

    assert list(found) == [path]
    assert "unpaired UTF-16 surrogate" in found[path]


def test_surrogate_in_field_name_rejected() -> None:
    text = job_text(
        assets=[{"type": "data", "layerName": "T", "property": "Opacity", "value": 1, "\ud800": 1}]
    )

    found = problems(text)

    assert list(found) == ['$.assets[0]["\\ud800"]']
    assert "field name" in found['$.assets[0]["\\ud800"]']


def test_surrogate_pair_is_text() -> None:
    spec = parse_job(job_text(assets=[function_asset(code="var clap = '\ud83c\udfac';")]))

    assert spec.model_dump_json()


@pytest.mark.parametrize("key", ["parameters", "value"])
def test_nesting_past_the_limit_rejected(key: str) -> None:
    deep = "[" * (MAX_DEPTH + 5) + "1" + "]" * (MAX_DEPTH + 5)
    if key == "parameters":
        asset = f'{{"type": "function", "code": "1", "parameters": {{"a": {deep}}}}}'
    else:
        asset = f'{{"type": "data", "layerName": "T", "property": "Opacity", "value": {deep}}}'
    text = f'{{"template": {json.dumps(TEMPLATE)}, "assets": [{asset}]}}'

    found = problems(text)

    deepest = [path for path, reason in found.items() if "nested more than" in reason]
    assert len(deepest) == 1
    assert deepest[0].startswith(f"$.assets[0].{key}")


def test_deepest_nested_jobs_fit_the_depth_limit() -> None:
    job: dict[str, Any] = {"template": TEMPLATE}
    # The deepest shape: joins whose inputs are complete jobs, ten levels down.
    for _ in range(9):
        job = {"type": "join", "assets": [{"type": "job", "job": job}]}
    parent = {"template": TEMPLATE, "assets": [{"type": "job", "layerName": "Clips", "job": job}]}

    spec = parse_job(json.dumps(parent))

    assert spec.model_dump_json()


def test_number_beyond_a_double_rejected() -> None:
    asset = '{"type": "data", "layerName": "T", "property": "Opacity", "value": 1e400}'
    text = f'{{"template": {json.dumps(TEMPLATE)}, "assets": [{asset}], "webhook": '
    text += '{"url": "http://127.0.0.1:1/", "data": [-1e999]}}'

    found = problems(text)

    assert "out of range" in found["$.assets[0].value"]
    assert "out of range" in found["$.webhook.data[0]"]


@pytest.mark.parametrize(
    "asset",
    [
        {"type": "data", "layerName": "T", "property": "Position", "value": [10**400, 1]},
        {"type": "essential", "layerName": "Card", "property": "Opacity", "value": -(10**309)},
    ],
)
def test_integer_beyond_a_double_in_a_value_rejected(asset: dict[str, Any]) -> None:
    found = problems(job_text(assets=[asset]))

    (path,) = found
    assert path.startswith("$.assets[0].value")
    assert "digit number is out of range for a property value" in found[path]


def test_big_integer_parameter_passes_on() -> None:
    spec = parse_job(job_text(assets=[function_asset(parameters={"id": 10**400})]))

    assert spec.assets[0].parameters == {"id": 10**400}


def test_integer_too_long_to_read_rejected() -> None:
    found = problems(job_text()[:-1] + ', "priority": ' + "9" * 5000 + "}")

    assert list(found) == ["$"]
    assert "5000 digits" in found["$"]


def test_essential_every_composition_needs_a_layer() -> None:
    asset = {"type": "essential", "composition": "*", "property": "Headline", "value": "x"}

    found = problems(job_text(assets=[asset]))

    assert list(found) == ["$.assets[0].composition"]
    assert "names no layer" in found["$.assets[0].composition"]


def test_unknown_job_type_is_the_only_problem() -> None:
    job = {"type": "JOIN", "assets": [{"type": "job", "template": TEMPLATE}]}
    nested = {"template": TEMPLATE, "assets": [{"type": "job", "layerName": "Clips", "job": job}]}

    assert list(problems(json.dumps(job))) == ["$.type"]
    assert list(problems(json.dumps(nested))) == ["$.assets[0].job.type"]
