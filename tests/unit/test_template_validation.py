"""Jobs checked at submit against the templates stored on the controller."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import py_aep
import pytest

from controller.jobspec.parse import JobRejected
from controller.sqlite_store import SqliteStore
from controller.templates import TemplateCatalog
from controller.validation import validate_job
from tests.unit.test_templates_support import add_to_catalog, build_template, job

IMAGE = "https://127.0.0.1/logo.png"


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[TemplateCatalog]:
    store = SqliteStore(tmp_path / "aefarm.db")
    catalog = TemplateCatalog(store)
    add_to_catalog(catalog, build_template(tmp_path / "promo.aep"), "promo")
    yield catalog
    store.close()


def problems(text: str, catalog: TemplateCatalog) -> dict[str, str]:
    with pytest.raises(JobRejected) as caught:
        validate_job(text, catalog)
    return {problem.path: problem.reason for problem in caught.value.problems}


def image(**target: Any) -> dict[str, Any]:
    return {"type": "image", "src": IMAGE, **target}


def text(**target: Any) -> dict[str, Any]:
    return {"type": "data", "property": "Source Text", "value": "Hello", **target}


def test_valid_job_resolves_stored_template(catalog: TemplateCatalog) -> None:
    assets = [
        image(layerName="Slot", composition="Main->Inner"),
        image(layerName="Slot", composition="*"),
        image(layerIndex=4, composition="Main"),
        text(layerName="Caption"),
    ]
    spec = validate_job(job(assets), catalog)
    assert spec.template is not None
    assert spec.template.src == f"artifact://{'ab' * 32}/promo.aep"
    assert spec.template.sha256 == "ab" * 32
    assert spec.template.fonts == ["MyriadPro-Regular"]


def test_unknown_composition_suggests_the_closest(catalog: TemplateCatalog) -> None:
    found = problems(job([], comp="Mainn"), catalog)
    assert "did you mean 'Main'?" in found["$.template.composition"]
    assert "'Inner', 'Main', 'Other'" not in found["$.template.composition"]
    assert "'Other', 'Main', 'Inner'" in found["$.template.composition"]


def test_unknown_layer_suggests_the_closest(catalog: TemplateCatalog) -> None:
    found = problems(job([image(layerName="Tilte", composition="Main")]), catalog)
    assert set(found) == {"$.assets[0].layerName"}
    assert "layer 'Tilte' not found in composition 'Main'" in found["$.assets[0].layerName"]
    assert "did you mean 'Title'?" in found["$.assets[0].layerName"]


def test_unknown_nested_composition_names_the_precomps(catalog: TemplateCatalog) -> None:
    found = problems(job([image(layerName="Slot", composition="Main->Iner")]), catalog)
    reason = found["$.assets[0].composition"]
    assert "has no precomposition layer of 'Iner'" in reason
    assert "did you mean 'Inner'?" in reason


def test_layer_index_out_of_range(catalog: TemplateCatalog) -> None:
    found = problems(job([image(layerIndex=6, composition="Main")]), catalog)
    assert "layerIndex 6 is out of range: 'Main' has 5 layers" in found["$.assets[0].layerIndex"]


def test_source_text_on_a_solid(catalog: TemplateCatalog) -> None:
    found = problems(job([text(layerName="Bg", composition="Main")]), catalog)
    reason = found["$.assets[0].property"]
    assert "layer 4 'Bg' in composition 'Main' is a solid layer" in reason


def test_footage_on_a_text_layer(catalog: TemplateCatalog) -> None:
    found = problems(job([image(layerName="Title")]), catalog)
    assert "is a text layer without a source" in found["$.assets[0]"]


def test_duplicate_layer_name_lists_the_candidates(catalog: TemplateCatalog) -> None:
    found = problems(job([image(layerName="Dup", composition="Main")]), catalog)
    reason = found["$.assets[0].layerName"]
    assert "has 2 layers named 'Dup', at the indexes 1, 2" in reason
    assert "give layerIndex" in reason


def test_nested_job_is_checked_against_its_own_template(
    catalog: TemplateCatalog, tmp_path: Path
) -> None:
    # The parent's template has no composition Clip, the child's has no Title.
    app = py_aep.new()
    clip = app.project.root_folder.add_comp("Clip", 64, 64, 1.0, 1.0, 25.0)
    clip.add_solid([1.0, 0.0, 0.0], name="Plate")
    app.project.save(tmp_path / "clip.aep")
    add_to_catalog(catalog, tmp_path / "clip.aep", "clip")
    child = {
        "type": "job",
        "layerName": "Inner",
        "template": {"id": "clip", "composition": "Clip"},
        "assets": [text(layerName="Plate"), image(layerName="Title")],
    }
    found = problems(job([text(layerName="Title"), child]), catalog)
    assert set(found) == {"$.assets[1].assets[0].property", "$.assets[1].assets[1].layerName"}
    assert (
        "'Plate' in composition 'Clip' is a solid layer" in found["$.assets[1].assets[0].property"]
    )
    assert "layer 'Title' not found" in found["$.assets[1].assets[1].layerName"]


def test_nested_job_layer_is_checked_in_the_parent(catalog: TemplateCatalog) -> None:
    child = {
        "type": "job",
        "layerName": "Inr",
        "template": {"id": "promo", "composition": "Other"},
    }
    found = problems(job([child]), catalog)
    assert "did you mean 'Inner'?" in found["$.assets[0].layerName"]


def test_stored_file_src_is_checked(catalog: TemplateCatalog) -> None:
    text_job = json.dumps(
        {
            "template": {"src": f"artifact://{'ab' * 32}/promo.aep", "composition": "Main"},
            "assets": [image(layerName="Nope")],
        }
    )
    found = problems(text_job, catalog)
    assert "layer 'Nope' not found in any composition" in found["$.assets[0].layerName"]


def test_unknown_template_src_not_checked(catalog: TemplateCatalog) -> None:
    text_job = json.dumps(
        {
            "template": {"src": "https://127.0.0.1/other.aep", "composition": "Anything"},
            "assets": [image(layerName="Nope")],
        }
    )
    spec = validate_job(text_job, catalog)
    assert spec.template is not None and spec.template.sha256 is None


def test_duplicate_layer_name_allowed_with_every_match(catalog: TemplateCatalog) -> None:
    asset = image(layerName="Dup", composition="Main", everyMatch=True)

    spec = validate_job(job([asset]), catalog)

    assert spec.assets[0].every_match is True


def test_join_input_resolves_stored_template(catalog: TemplateCatalog) -> None:
    join = {
        "type": "join",
        "assets": [
            {"type": "video", "src": "https://127.0.0.1/intro.mp4"},
            {"type": "job", "template": {"id": "promo", "composition": "Main"}},
        ],
    }

    spec = validate_job(json.dumps(join), catalog)

    nested = spec.join_inputs[1].job
    assert nested is not None and nested.template is not None
    assert nested.template.src == f"artifact://{'ab' * 32}/promo.aep"


def test_join_input_unknown_template_rejected(catalog: TemplateCatalog) -> None:
    join = {
        "type": "join",
        "assets": [{"type": "job", "template": {"id": "promox", "composition": "Main"}}],
    }

    found = problems(json.dumps(join), catalog)

    assert "$.assets[0].template.id" in found


def join_in_layer(layer: str, *inputs: dict[str, Any]) -> dict[str, Any]:
    return {"type": "job", "layerName": layer, "job": {"type": "join", "assets": list(inputs)}}


def test_join_layer_checked_in_parent(catalog: TemplateCatalog) -> None:
    child = join_in_layer("Inr", {"type": "video", "src": "https://127.0.0.1/intro.mp4"})

    found = problems(job([text(layerName="Title"), child]), catalog)

    assert set(found) == {"$.assets[1].layerName"}
    assert "did you mean 'Inner'?" in found["$.assets[1].layerName"]


def test_join_inputs_checked_in_layer_join(catalog: TemplateCatalog) -> None:
    render = {"type": "job", "template": {"id": "promo", "composition": "Other"}}
    bad = {**render, "assets": [image(layerName="Slto")]}
    child = join_in_layer("Inner", {"type": "video", "src": "https://127.0.0.1/a.mp4"}, bad)

    found = problems(job([child]), catalog)
    assert set(found) == {"$.assets[0].job.assets[1].assets[0].layerName"}
    assert "did you mean 'Slot'?" in found["$.assets[0].job.assets[1].assets[0].layerName"]

    spec = validate_job(job([join_in_layer("Inner", render)]), catalog)
    nested = spec.children[0].job.join_inputs[0].job
    assert nested is not None and nested.template is not None
    assert nested.template.src == f"artifact://{'ab' * 32}/promo.aep"
