"""Essential Graphics controllers and solid colours patched by the agent, read back with py-aep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import py_aep
import pytest

from agent.errors import LeaseFailure
from agent.patch import (
    DataPatch,
    EssentialPatch,
    LayerTarget,
    PatchReport,
    essential_patch_from_proto,
    patch_project,
)
from agent.simulator.scene import read_comp
from protos import common_pb2
from tests.unit.test_essential_support import WHITE_FILL, build_cards

GREEN = [0.0, 1.0, 0.0]


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    return build_cards(tmp_path / "cards.aep")


def patch(cards: Path, *patches: DataPatch | EssentialPatch) -> tuple[dict[str, Any], PatchReport]:
    out = cards.with_name("patched.aep")
    _, report = patch_project(cards, out, "Main", [], list(patches))
    project = py_aep.parse(out).project
    return {comp.name: comp for comp in project.compositions}, report


def layer(comps: dict[str, Any], comp: str, name: str) -> Any:
    return next(layer for layer in comps[comp].layers if layer.name == name)


def label_text(comp: Any) -> str:
    return str(layer({comp.name: comp}, comp.name, "Label").text["Source Text"].value.text)


def label_fill(comp: Any) -> list[float]:
    label = layer({comp.name: comp}, comp.name, "Label")
    animator = label.text["Animators"].properties[0]
    return list(animator["ADBE Text Animator Properties"]["ADBE Text Fill Color"].value)


def solid_color(layer: Any) -> list[float]:
    return list(layer.source.main_source.color)


def essential(name: str, value: Any, **target: Any) -> EssentialPatch:
    return EssentialPatch(LayerTarget(**target), name, value)


def test_composition_controller_sets_the_property(cards: Path) -> None:
    comps, report = patch(
        cards,
        essential("Headline", "Breaking"),
        essential("Label Text", "ALL", composition="Card"),
        essential("Panel Opacity", 25, composition="Card"),
        essential("Show Label", True, composition="Card"),
    )
    headline = layer(comps, "Main", "Headline")
    assert headline.text["Source Text"].value.text == "Breaking"
    assert label_text(comps["Card"]) == "ALL"
    assert layer(comps, "Card", "Panel").transform["Opacity"].value == 25.0
    checkbox = layer(comps, "Card", "Label").effects.properties[0].properties[0]
    assert checkbox.value == 1
    assert "Main/Essential Graphics/Headline" in report.properties_set
    assert report.items_copied == []
    # Both instances show Card, which changed for all of them.
    assert layer(comps, "Main", "Left").source.name == "Card"
    assert layer(comps, "Main", "Right").source.name == "Card"


def test_layer_controller_gives_the_layer_its_own_copy(cards: Path) -> None:
    comps, report = patch(
        cards,
        essential("Label Color", GREEN, layer_name="Right"),
        essential("Label Text", "R", layer_name="Right", composition="Main"),
        essential("Label Text", "ALL", composition="Card"),
    )
    right = layer(comps, "Main", "Right")
    left = layer(comps, "Main", "Left")
    assert left.source.name == "Card"
    assert right.source.name != "Card"
    own = comps[right.source.name]
    assert label_fill(own) == [*GREEN, 1.0]
    assert label_text(own) == "R"
    assert label_fill(comps["Card"]) == WHITE_FILL
    # The composition's own value was set first, so the copy has it too before its change.
    assert label_text(comps["Card"]) == "ALL"
    # Two assets on one layer share one copy, which keeps the controllers.
    assert report.items_copied == [right.source.name]
    assert [c.name for c in own.motion_graphics_controllers] == [
        "Label Text",
        "Label Color",
        "Panel Opacity",
        "Show Label",
    ]
    assert len(comps) == 3


def test_only_layer_showing_a_composition_changes_it(cards: Path) -> None:
    comps, report = patch(
        cards,
        essential("Label Color", GREEN, layer_name="Right"),
        essential("Label Color", [1.0, 0.0, 0.0], layer_name="Left"),
    )
    # Right got a copy, so Left was the only layer left showing Card.
    assert layer(comps, "Main", "Left").source.name == "Card"
    assert label_fill(comps["Card"]) == [1.0, 0.0, 0.0, 1.0]
    assert len(report.items_copied) == 1


def test_simulator_draws_the_copied_colour(cards: Path) -> None:
    out = cards.with_name("patched.aep")
    patch_project(cards, out, "Main", [], [essential("Label Color", GREEN, layer_name="Right")])
    main = next(comp for comp in py_aep.parse(out).project.compositions if comp.name == "Main")
    scene = read_comp(main)
    colors = {layer.name: getattr(layer, "fill_color", None) for layer in scene.walk()}
    precomps = [layer for layer in scene.layers if layer.name in ("Left", "Right")]
    fills = {
        precomp.name: next(
            inner.fill_color for inner in precomp.comp.layers if inner.name == "Label"
        )
        for precomp in precomps
    }
    assert fills == {"Left": (1.0, 1.0, 1.0), "Right": (0.0, 1.0, 0.0)}
    assert colors["Headline"] == (1.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("patches", "code", "words"),
    [
        (
            [essential("Label Colour", GREEN, layer_name="Right")],
            "controller_not_found",
            ("no Essential Graphics controller 'Label Colour'", "'Label Color'"),
        ),
        (
            [essential("Headline", "x", composition="Card")],
            "controller_not_found",
            ("composition 'Card'",),
        ),
        (
            [essential("Headline", 3)],
            "invalid_value",
            ("controller 'Headline' of composition 'Main' takes a string", "not 3"),
        ),
        (
            [essential("Label Color", [0, 2, 0], layer_name="Right")],
            "invalid_value",
            ("from 0 to 1",),
        ),
        (
            [essential("Label Color", GREEN, layer_name="Bg")],
            "layer_not_precomp",
            ("layer 'Bg' in composition 'Main' is no precomposition layer",),
        ),
        (
            [essential("Headline", "x", composition="Nope")],
            "comp_not_found",
            ("'Nope'",),
        ),
    ],
)
def test_essential_failure(
    cards: Path, patches: list[EssentialPatch], code: str, words: tuple[str, ...]
) -> None:
    with pytest.raises(LeaseFailure) as caught:
        patch(cards, *patches)
    assert caught.value.code == code
    for word in words:
        assert word in caught.value.message


def test_essential_patch_from_proto() -> None:
    asset = common_pb2.EssentialAsset(
        layer_name="Right", property="Label Color", value_json=json.dumps(GREEN)
    )
    made = essential_patch_from_proto(asset)
    assert made == EssentialPatch(LayerTarget("Right"), "Label Color", GREEN)
    assert made.has_layer
    assert not essential_patch_from_proto(
        common_pb2.EssentialAsset(property="Headline", value_json='"x"')
    ).has_layer
    with pytest.raises(LeaseFailure) as caught:
        essential_patch_from_proto(common_pb2.EssentialAsset(property="X", value_json="{"))
    assert caught.value.code == "invalid_value"


def solid(name: str, value: Any, expression: str = "") -> DataPatch:
    target = LayerTarget(name, composition="Main")
    return DataPatch(target, ("Solid Color",), value, value is not None, expression)


def test_shared_solid_gets_its_own_copy(cards: Path) -> None:
    comps, report = patch(cards, solid("Chip", GREEN))
    chip = layer(comps, "Main", "Chip")
    twin = layer(comps, "Main", "Chip Twin")
    assert solid_color(chip) == GREEN
    assert solid_color(twin) == [1.0, 0.0, 0.0]
    assert chip.source is not twin.source
    assert (chip.source.width, chip.source.height) == (20, 20)
    assert chip.name == "Chip"
    assert report.items_copied == [chip.source.name]
    # The layer that py-aep needs to make a solid is gone again.
    assert len(comps["Main"].layers) == 7


def test_unshared_solid_changes_in_place(cards: Path) -> None:
    comps, report = patch(cards, solid("Knob", "#00ff00"))
    knob = layer(comps, "Main", "Knob")
    assert solid_color(knob) == GREEN
    assert knob.source.name == "Knob"
    assert report.items_copied == []


@pytest.mark.parametrize(
    ("asset", "code", "words"),
    [
        (solid("Headline", GREEN), "unsupported_property", ("no solid layer",)),
        (solid("Chip", [0, 2, 0]), "invalid_value", ("from 0 to 1", "[0, 2, 0]")),
        (solid("Chip", None, expression="[1, 0, 0]"), "unsupported_property", ("no expression",)),
    ],
)
def test_solid_color_failure(
    cards: Path, asset: DataPatch, code: str, words: tuple[str, ...]
) -> None:
    with pytest.raises(LeaseFailure) as caught:
        patch(cards, asset)
    assert caught.value.code == code
    for word in words:
        assert word in caught.value.message


@pytest.mark.parametrize(
    ("asset", "code"),
    [
        (essential("Panel Opacity", 10**400, layer_name="Left"), "invalid_value"),
        (
            DataPatch(LayerTarget("Knob", composition="Main"), ("Opacity",), 10**400, True),
            "unsupported_property",
        ),
    ],
)
def test_integer_beyond_a_double_fails_the_patch(
    cards: Path, asset: DataPatch | EssentialPatch, code: str
) -> None:
    # Not OverflowError, which would count as an agent failure and be retried.
    with pytest.raises(LeaseFailure) as caught:
        patch(cards, asset)
    assert caught.value.code == code
