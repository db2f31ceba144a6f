"""Parsing essential assets: the shape of the asset, without a template to check it against."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.jobspec import models
from controller.jobspec.parse import JobRejected, parse_job
from controller.tasks import _asset

TEMPLATE = {"src": "https://127.0.0.1/cards.aep", "composition": "Main"}


def parse(*assets: dict[str, Any]) -> models.JobSpec:
    return parse_job(json.dumps({"template": TEMPLATE, "assets": list(assets)}))


def rejected(*assets: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(JobRejected) as caught:
        parse(*assets)
    return {problem.path: problem.reason for problem in caught.value.problems}


def test_composition_controller_parses() -> None:
    spec = parse({"type": "essential", "property": "Headline", "value": "Hello"})
    asset = spec.assets[0]
    assert isinstance(asset, models.EssentialAsset)
    assert asset.property == "Headline"
    assert asset.value == "Hello"
    assert asset.composition is None
    assert not asset.has_layer()


def test_layer_controller_parses() -> None:
    spec = parse(
        {
            "type": "essential",
            "composition": "Main",
            "layerName": "Right",
            "property": "Label Color",
            "value": [0, 1, 0],
        },
        {"type": "essential", "layerIndex": 2, "property": "Show Label", "value": False},
    )
    by_name, by_index = spec.assets
    assert isinstance(by_name, models.EssentialAsset)
    assert isinstance(by_index, models.EssentialAsset)
    assert (by_name.composition, by_name.layer_name, by_name.value) == ("Main", "Right", [0, 1, 0])
    assert by_name.has_layer()
    assert (by_index.layer_index, by_index.value) == (2, False)


def test_task_carries_the_essential_asset() -> None:
    spec = parse(
        {"type": "essential", "layerName": "Right", "property": "Label Color", "value": [0, 1, 0]}
    )
    message = _asset(spec.assets[0])
    assert message.WhichOneof("kind") == "essential"
    assert message.essential.layer_name == "Right"
    assert message.essential.property == "Label Color"
    assert json.loads(message.essential.value_json) == [0, 1, 0]


@pytest.mark.parametrize(
    ("asset", "path", "words"),
    [
        ({"type": "essential", "value": 1}, "$.assets[0].property", ("missing", "controller")),
        (
            {"type": "essential", "property": "  ", "value": 1},
            "$.assets[0].property",
            ("empty",),
        ),
        (
            {"type": "essential", "property": 3, "value": 1},
            "$.assets[0].property",
            ("3", "string"),
        ),
        ({"type": "essential", "property": "Headline"}, "$.assets[0].value", ("missing",)),
        (
            {"type": "essential", "property": "Headline", "value": None},
            "$.assets[0].value",
            ("missing",),
        ),
        (
            {"type": "essential", "property": "Headline", "value": {"text": "x"}},
            "$.assets[0].value",
            ('{"text": "x"}', "no controller value"),
        ),
        (
            {"type": "essential", "property": "Headline", "value": [1, "2"]},
            "$.assets[0].value",
            ("array of numbers",),
        ),
        (
            {"type": "essential", "property": "Headline", "value": []},
            "$.assets[0].value",
            ("no controller value",),
        ),
        (
            {"type": "essential", "property": "Headline", "value": "x", "everyMatch": True},
            "$.assets[0].everyMatch",
            ("layerName",),
        ),
        (
            {"type": "essential", "property": "Headline", "value": "x", "composition": "A->"},
            "$.assets[0].composition",
            ("empty name",),
        ),
        (
            {"type": "essential", "layerIndex": 0, "property": "Headline", "value": "x"},
            "$.assets[0].layerIndex",
            ("below 1",),
        ),
        (
            {"type": "essential", "layerName": "", "property": "Headline", "value": "x"},
            "$.assets[0].layerName",
            ("empty",),
        ),
        (
            {"type": "essential", "property": "Headline", "value": "x", "expression": "time"},
            "$.assets[0].expression",
            ("unknown field",),
        ),
    ],
)
def test_essential_rejection(asset: dict[str, Any], path: str, words: tuple[str, ...]) -> None:
    found = rejected(asset)
    assert path in found, found
    for word in words:
        assert word in found[path]


def test_layer_name_and_index_together_are_rejected() -> None:
    found = rejected(
        {
            "type": "essential",
            "layerName": "Right",
            "layerIndex": 2,
            "property": "Label Color",
            "value": [0, 1, 0],
        }
    )
    assert "both layerName and layerIndex" in found["$.assets[0]"]
