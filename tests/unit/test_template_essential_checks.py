"""Essential assets checked at submit against the controllers of a stored template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import py_aep
import pytest

from controller.jobspec import models
from controller.jobspec.parse import JobRejected
from controller.sqlite_store import SqliteStore
from controller.template_inspect import inspect_project
from controller.templates import TemplateCatalog
from controller.validation import validate_job
from tests.unit.test_essential_support import build_cards, store_as_version_1
from tests.unit.test_templates_support import add_to_catalog, build_template


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[TemplateCatalog]:
    store = SqliteStore(tmp_path / "aefarm.db")
    catalog = TemplateCatalog(store)
    path = build_cards(tmp_path / "cards.aep")
    catalog.add("cards", "cd" * 32, path.name, path.stat().st_size, inspect_project(path), 1.0)
    yield catalog
    store.close()


def job(*assets: dict[str, Any], comp: str = "Main") -> str:
    return json.dumps({"template": {"id": "cards", "composition": comp}, "assets": list(assets)})


def essential(**fields: Any) -> dict[str, Any]:
    return {"type": "essential", **fields}


def problems(text: str, catalog: TemplateCatalog) -> dict[str, str]:
    with pytest.raises(JobRejected) as caught:
        validate_job(text, catalog)
    return {problem.path: problem.reason for problem in caught.value.problems}


def test_inspection_lists_controllers_by_name_and_type(tmp_path: Path) -> None:
    info = inspect_project(build_cards(tmp_path / "cards.aep"))
    card = info.compositions_named("Card")[0]
    main = info.compositions_named("Main")[0]
    assert card.controllers is not None
    assert [(c.name, c.type) for c in card.controllers] == [
        ("Label Text", "text"),
        ("Label Color", "color"),
        ("Panel Opacity", "slider"),
        ("Show Label", "checkbox"),
    ]
    assert main.controllers is not None
    assert [(c.name, c.type) for c in main.controllers] == [("Headline", "text")]


def test_valid_essential_assets_pass(catalog: TemplateCatalog) -> None:
    spec = validate_job(
        job(
            essential(property="Headline", value="Hello"),
            essential(composition="Card", property="Panel Opacity", value=50),
            essential(layerName="Right", property="Label Color", value=[0, 1, 0]),
            essential(layerName="Left", property="Label Color", value="#00ff00"),
            essential(layerIndex=6, property="Show Label", value=True),
            essential(layerName="Right", composition="Main", property="Label Text", value="R"),
        ),
        catalog,
    )
    assert all(isinstance(asset, models.EssentialAsset) for asset in spec.assets)


def test_unknown_controller_suggests_the_closest(catalog: TemplateCatalog) -> None:
    found = problems(
        job(essential(layerName="Right", property="Label Colour", value=[0, 1, 0])), catalog
    )
    reason = found["$.assets[0].property"]
    assert "has no Essential Graphics controller 'Label Colour'" in reason
    assert "did you mean 'Label Color'" in reason
    assert "composition 'Card', which layer 5 'Right' in composition 'Main' shows" in reason


def test_composition_without_controllers_says_so(catalog: TemplateCatalog, tmp_path: Path) -> None:
    add_to_catalog(catalog, build_template(tmp_path / "promo.aep"), "promo")
    text = job(essential(property="Headline", value="x")).replace('"cards"', '"promo"')
    found = problems(text, catalog)
    reason = found["$.assets[0].property"]
    assert "composition 'Main' has no Essential Graphics controllers" in reason
    assert "Essential Graphics panel" in reason


def test_controllers_of_another_composition_are_listed(catalog: TemplateCatalog) -> None:
    found = problems(job(essential(composition="Main", property="Label Text", value="x")), catalog)
    reason = found["$.assets[0].property"]
    assert "composition 'Main' has no Essential Graphics controller 'Label Text'" in reason
    assert "the controllers there are 'Headline'" in reason


@pytest.mark.parametrize(
    ("asset", "words"),
    [
        (essential(property="Headline", value=3), ("text controller", "takes a string", "3")),
        (
            essential(layerName="Right", property="Label Color", value=[0, 2, 0]),
            ("color controller", "from 0 to 1", "[0, 2, 0]"),
        ),
        (
            essential(layerName="Right", property="Label Color", value=[0, 1]),
            ("color controller", "[r, g, b]"),
        ),
        (
            essential(layerName="Right", property="Show Label", value=1),
            ("checkbox controller", "true or false"),
        ),
        (
            essential(composition="Card", property="Panel Opacity", value="50"),
            ("slider controller", "takes a number", '"50"'),
        ),
    ],
)
def test_controller_value_of_wrong_type(
    catalog: TemplateCatalog, asset: dict[str, Any], words: tuple[str, ...]
) -> None:
    found = problems(job(asset), catalog)
    assert set(found) == {"$.assets[0].value"}
    for word in words:
        assert word in found["$.assets[0].value"]


def test_layer_that_is_no_precomposition(catalog: TemplateCatalog) -> None:
    found = problems(job(essential(layerName="Bg", property="Headline", value="x")), catalog)
    reason = found["$.assets[0].layerName"]
    assert "layer 7 'Bg' in composition 'Main' is a solid layer" in reason
    assert "leave out layerName" in reason


def test_unknown_layer_and_composition(catalog: TemplateCatalog) -> None:
    found = problems(
        job(
            essential(layerName="Rigth", property="Label Color", value=[0, 1, 0]),
            essential(composition="Crad", property="Label Text", value="x"),
        ),
        catalog,
    )
    assert "did you mean 'Right'?" in found["$.assets[0].layerName"]
    assert "did you mean 'Card'?" in found["$.assets[1].composition"]


def test_old_inspection_skips_controller_checks(catalog: TemplateCatalog) -> None:
    """A template stored before controllers were recorded validates as before."""
    store_as_version_1(catalog, "cards")
    assert catalog.get("cards").info.version == 1
    spec = validate_job(job(essential(property="No Such Controller", value="x")), catalog)
    assert spec.template is not None
    assert spec.template.sha256 == "cd" * 32


def test_duplicate_controller_in_twin_compositions(tmp_path: Path) -> None:
    app = py_aep.new()
    folder = app.project.root_folder
    card = folder.add_comp("Card", 80, 45, 1.0, 1.0, 25.0)
    for name in ("Panel", "Panel 2"):
        panel = card.add_solid([0.0, 0.0, 0.0], name=name, width=80, height=45)
        panel.transform["Opacity"].add_to_motion_graphics_template_as(card, "Opacity")
    main = folder.add_comp("Main", 160, 90, 1.0, 1.0, 25.0)
    main.add(card).name = "Slot"
    # A second composition named Card, without controllers.
    folder.add_comp("Card", 80, 45, 1.0, 1.0, 25.0)
    path = tmp_path / "twins.aep"
    app.project.save(path)
    store = SqliteStore(tmp_path / "twins.db")
    catalog = TemplateCatalog(store)
    catalog.add("twins", "ef" * 32, path.name, path.stat().st_size, inspect_project(path), 1.0)
    text = json.dumps(
        {
            "template": {"id": "twins", "composition": "Main"},
            "assets": [essential(layerName="Slot", property="Opacity", value=50)],
        }
    )
    try:
        found = problems(text, catalog)
    finally:
        store.close()

    assert set(found) == {"$.assets[0].property"}
    assert "2 Essential Graphics controllers named 'Opacity'" in found["$.assets[0].property"]


def test_byte_order_mark_job_checked(catalog: TemplateCatalog) -> None:
    # A job file saved with a UTF-8 byte order mark is read like one without.
    spec = validate_job("\ufeff" + job(essential(property="Headline", value="Hello")), catalog)
    assert spec.template.id == "cards"
    found = problems("\ufeff" + job(essential(property="Headlin", value="x")), catalog)
    assert "$.assets[0].property" in found
