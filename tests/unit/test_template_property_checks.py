"""Data asset property paths and values checked at submit against a stored template."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.artifacts import ArtifactStore
from controller.jobspec.parse import JobRejected
from controller.sqlite_store import SqliteStore
from controller.template_inspect import INSPECTION_VERSION, inspect_project
from controller.templates import TemplateCatalog
from controller.validation import validate_job
from tests.unit.test_essential_support import build_cards, store_as_version_1


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    return build_cards(tmp_path / "cards.aep")


@pytest.fixture
def catalog(tmp_path: Path, cards: Path) -> Iterator[TemplateCatalog]:
    store = SqliteStore(tmp_path / "aefarm.db")
    catalog = TemplateCatalog(store)
    catalog.add("cards", "cd" * 32, cards.name, cards.stat().st_size, inspect_project(cards), 1.0)
    yield catalog
    store.close()


def job(*assets: dict[str, Any]) -> str:
    return json.dumps({"template": {"id": "cards", "composition": "Main"}, "assets": list(assets)})


def data(layer: str, prop: str, value: Any = None, **fields: Any) -> dict[str, Any]:
    asset = {"type": "data", "layerName": layer, "property": prop, **fields}
    if value is not None:
        asset["value"] = value
    return asset


def problems(text: str, catalog: TemplateCatalog) -> dict[str, str]:
    with pytest.raises(JobRejected) as caught:
        validate_job(text, catalog)
    return {problem.path: problem.reason for problem in caught.value.problems}


def test_inspection_records_effects_and_transform(cards: Path) -> None:
    main = inspect_project(cards).compositions_named("Main")[0]
    knob = main.layers[0]
    assert knob.name == "Knob"
    assert knob.properties is not None
    effects = [(effect.name, effect.match_name) for effect in knob.properties.effects]
    assert effects == [
        ("Slider Control", "ADBE Slider Control"),
        ("Color Control", "ADBE Color Control"),
    ]
    slider = knob.properties.effects[0].properties[0]
    assert (slider.name, slider.kind) == ("Slider", "number")
    assert knob.properties.effects[1].properties[0].kind == "color"
    transform = {prop.name: prop.kind for prop in knob.properties.transform}
    assert transform["Position"] == "vector3"
    assert transform["Opacity"] == "number"
    assert "Effects" in [group.name for group in knob.properties.groups]
    assert knob.properties.text == ()
    headline = next(layer for layer in main.layers if layer.name == "Headline")
    assert headline.properties is not None
    assert "Source Text" in [prop.name for prop in headline.properties.text]


def test_valid_paths_pass(catalog: TemplateCatalog) -> None:
    validate_job(
        job(
            data("Knob", "Effects.Slider Control.Slider", 40),
            data("Knob", "Effects->ADBE Slider Control->ADBE Slider Control-0001", 40),
            data("Knob", "Effects.Color Control.Color", [0.2, 0.4, 0.6]),
            data("Knob", "Effects.Color Control.Color", "#336699"),
            data("Knob", "Transform.Position", [80, 60]),
            data("Knob", "Position", [80, 60, 0]),
            data("Knob", "Opacity", 50),
            data("Knob", "Opacity", expression="time * 10"),
            data("Knob", "Masks.Mask 1.Mask Path", 1),
            data("Headline", "Source Text", {"text": "Hi", "fillColor": [1, 1, 1]}),
            data("Headline", "Text.Source Text", "Hi"),
            data("Chip", "Solid Color", [0, 1, 0]),
            data("Chip", "Solid Color", "#00ff00"),
        ),
        catalog,
    )


@pytest.mark.parametrize(
    ("asset", "words"),
    [
        (
            data("Knob", "Transfrom.Position", [1, 2]),
            ("no property group or property 'Transfrom'", "did you mean 'Transform'?"),
        ),
        (
            data("Knob", "Effects.Slider Contrl.Slider", 1),
            ("no effect 'Slider Contrl'", "did you mean 'Slider Control'"),
        ),
        (
            data("Knob", "Effects.Slider Control.Sldier", 1),
            ("effect 'Slider Control'", "no property 'Sldier'", "did you mean 'Slider'?"),
        ),
        (data("Knob", "Effects", 1), ("is a property group", "'Slider Control'")),
        (data("Knob", "Effects.Slider Control", 1), ("is an effect", "'Slider'")),
        (
            data("Knob", "Effects.Slider Control.Compositing Options", 1),
            ("property group, not a property with a value",),
        ),
        (
            data("Chip", "Effects.Fill.Color", [1, 0, 0]),
            ("has no effects", "no effect 'Fill'", "in After Effects"),
        ),
        (data("Knob", "Transform", 1), ("is a property group", "'Position'")),
        (
            data("Knob", "Transform.Positon", [1, 2]),
            ("no property 'Positon'", "did you mean 'Position'"),
        ),
        (data("Knob", "Position.X", 1), ("cannot continue with 'X'",)),
        (
            data("Chip", "Solid Color.Red", [0, 1, 0]),
            ("not a property group", '"Solid Color" alone'),
        ),
        (
            data("Headline", "Solid Color", [0, 1, 0]),
            ("layer 4 'Headline' in composition 'Main' is a text layer", "address a solid"),
        ),
        (
            data("Bg", "Source Text", "x"),
            ("Source Text is a property of text layers", "solid layer"),
        ),
    ],
)
def test_property_path_rejection(
    catalog: TemplateCatalog, asset: dict[str, Any], words: tuple[str, ...]
) -> None:
    found = problems(job(asset), catalog)
    assert set(found) == {"$.assets[0].property"}, found
    for word in words:
        assert word in found["$.assets[0].property"]


@pytest.mark.parametrize(
    ("asset", "words"),
    [
        (data("Knob", "Position", 5), ("Position of layer 1 'Knob'", "2 or 3 numbers", "not 5")),
        (data("Knob", "Position", [1, 2, 3, 4]), ("2 or 3 numbers",)),
        (data("Knob", "Transform.Opacity", [50]), ("takes a number", "[50]")),
        (data("Knob", "Opacity", "50"), ("takes a number", '"50"')),
        (data("Knob", "Effects.Color Control.Color", [1, 0, 2]), ("from 0 to 1", "[1, 0, 2]")),
        (data("Knob", "Effects.Color Control.Color", [1, 0]), ("[r, g, b]",)),
        (data("Knob", "Effects.Color Control.Color", "red"), ('"#rrggbb"', '"red"')),
        (data("Knob", "Effects.Slider Control.Slider", [1]), ("takes a number",)),
        (data("Chip", "Solid Color", [0, 300, 0]), ("Solid Color takes a colour",)),
        (data("Headline", "Source Text", {"txt": "x"}), ("takes a string, or an object",)),
        (data("Headline", "Source Text", {"fillColor": 3}), ("fillColor",)),
    ],
)
def test_property_value_of_wrong_shape(
    catalog: TemplateCatalog, asset: dict[str, Any], words: tuple[str, ...]
) -> None:
    found = problems(job(asset), catalog)
    assert set(found) == {"$.assets[0].value"}, found
    for word in words:
        assert word in found["$.assets[0].value"]


def test_solid_color_takes_no_expression(catalog: TemplateCatalog) -> None:
    found = problems(job(data("Chip", "Solid Color", expression="[1, 0, 0]")), catalog)
    assert set(found) == {"$.assets[0].expression"}
    assert "takes no expression" in found["$.assets[0].expression"]


def test_every_layer_of_a_star_composition_is_checked(catalog: TemplateCatalog) -> None:
    found = problems(
        job(data("Label", "Effects.Slider Control.Slider", 1, composition="*")), catalog
    )
    reason = found["$.assets[0].property"]
    assert "layer 1 'Label' in composition 'Card' has no effect 'Slider Control'" in reason
    assert "the effects are 'Checkbox Control'" in reason


def test_old_template_still_validates(catalog: TemplateCatalog) -> None:
    store_as_version_1(catalog, "cards")
    # Without the stored file the old inspection stays, and only the older checks run.
    spec = validate_job(job(data("Knob", "Effects.No Such Effect.Value", 1)), catalog)
    assert spec.template is not None
    assert catalog.get("cards").info.version == 1
    found = problems(job(data("Bg", "Source Text", "x")), catalog)
    assert "Source Text is a property of text layers" in found["$.assets[0].property"]


def test_old_template_is_inspected_again_from_its_file(tmp_path: Path, cards: Path) -> None:
    artifacts = ArtifactStore(tmp_path / "artifacts")
    sha256 = hashlib.sha256(cards.read_bytes()).hexdigest()
    artifacts.path(sha256).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cards, artifacts.path(sha256))
    store = SqliteStore(tmp_path / "inspect-again.db")
    catalog = TemplateCatalog(store, artifacts)
    catalog.add("cards", sha256, cards.name, cards.stat().st_size, inspect_project(cards), 1.0)
    store_as_version_1(catalog, "cards")

    found = problems(job(data("Knob", "Effects.Slider Contrl.Slider", 1)), catalog)
    assert "did you mean 'Slider Control'" in found["$.assets[0].property"]
    reopened = TemplateCatalog(store)
    assert reopened.get("cards").info.version == INSPECTION_VERSION
    main = reopened.get("cards").info.compositions_named("Main")[0]
    assert main.controllers is not None
    store.close()


@pytest.mark.parametrize(
    ("asset", "words"),
    [
        (data("Chip", "solid color", [0, 1, 0]), ('write "Solid Color" in this case',)),
        (
            data("Knob", "Effects->Slider Control.Slider", 1),
            ('split at "->" only', "Effects->Slider Control->"),
        ),
    ],
)
def test_property_path_near_miss_explained(
    catalog: TemplateCatalog, asset: dict[str, Any], words: tuple[str, ...]
) -> None:
    found = problems(job(asset), catalog)
    assert set(found) == {"$.assets[0].property"}, found
    for word in words:
        assert word in found["$.assets[0].property"]
