"""Raw limits of every job: NUL characters and numbers of 32-bit task fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.jobspec.parse import JobRejected, parse_job

TEMPLATE = {"src": "file:///t.aep", "composition": "Main"}


def problem_paths(job: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(JobRejected) as caught:
        parse_job(json.dumps(job))
    return {problem.path: problem.reason for problem in caught.value.problems}


@pytest.mark.parametrize(
    ("job", "path"),
    [
        ({"template": {**TEMPLATE, "frameStart": 0, "frameEnd": 2**31}}, "$.template.frameEnd"),
        ({"template": TEMPLATE, "settings": {"frames": [0, 10**30]}}, "$.settings.frames"),
        ({"template": TEMPLATE, "settings": {"frames": 2**40}}, "$.settings.frames"),
        (
            {
                "template": TEMPLATE,
                "assets": [{"type": "image", "src": "file:///a.png", "layerIndex": 2**31}],
            },
            "$.assets[0].layerIndex",
        ),
        ({"template": TEMPLATE, "settings": {"hangTimeout": 2**31}}, "$.settings.hangTimeout"),
    ],
)
def test_number_beyond_int32_rejected(job: dict[str, Any], path: str) -> None:
    found = problem_paths(job)

    assert path in found, found
    assert "out of range" in found[path]


def test_nul_in_data_value_rejected() -> None:
    job = {
        "template": TEMPLATE,
        "assets": [
            {"type": "data", "layerName": "Title", "property": "Source Text", "value": "\0nul"}
        ],
    }

    found = problem_paths(job)

    assert "$.assets[0].value" in found
    assert "NUL" in found["$.assets[0].value"]


def test_nul_in_layer_name_rejected() -> None:
    job = {
        "template": TEMPLATE,
        "assets": [{"type": "image", "src": "file:///a.png", "layerName": "Sl\0t"}],
    }

    assert "$.assets[0].layerName" in problem_paths(job)


def test_webhook_data_may_hold_anything() -> None:
    job = {
        "template": TEMPLATE,
        "webhook": {"url": "https://127.0.0.1/hook", "data": {"frames": 2**40, "note": "a\0b"}},
    }

    spec = parse_job(json.dumps(job))

    assert spec.webhook is not None
