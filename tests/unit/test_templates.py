"""Templates known to the controller: inspection, the catalog, and `aefarm template` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.sqlite_store import SqliteStore
from controller.template_inspect import TemplateUnreadable, inspect_project
from controller.templates import TemplateCatalog, TemplateNameTaken, TemplateNotFound
from tests.unit.test_cli_controller import controller, run_cli, run_json
from tests.unit.test_templates_support import build_template

__all__ = ["controller"]


@pytest.fixture
def template(tmp_path: Path) -> Path:
    return build_template(tmp_path / "promo.aep")


def test_inspection_lists_compositions_layers_and_fonts(template: Path) -> None:
    info = inspect_project(template)
    main = info.compositions_named("Main")[0]
    assert (main.width, main.height, main.frame_rate, main.duration) == (320, 180, 25.0, 2.0)
    assert main.display_start_frame == 0
    layers = [(layer.index, layer.name, layer.type) for layer in main.layers]
    assert layers == [
        (1, "Dup", "solid"),
        (2, "Dup", "solid"),
        (3, "Inner", "precomp"),
        (4, "Bg", "solid"),
        (5, "Title", "text"),
    ]
    assert main.layers[2].source_composition == "Inner"
    assert info.fonts == ("MyriadPro-Regular",)


def test_inspection_rejects_a_file_that_is_no_project(tmp_path: Path) -> None:
    path = tmp_path / "notes.aep"
    path.write_text("not a project")
    with pytest.raises(TemplateUnreadable, match=r"notes\.aep is not an After Effects project"):
        inspect_project(path)


def test_catalog_finds_by_id_and_name_and_suggests(template: Path, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    catalog = TemplateCatalog(store)
    record = catalog.add("promo", "ab" * 32, "promo.aep", 10, inspect_project(template), 5.0)
    assert catalog.get(record.id) == record
    assert catalog.get("promo").url == f"artifact://{'ab' * 32}/promo.aep"
    assert catalog.find_by_sha256("ab" * 32) == record
    with pytest.raises(TemplateNameTaken, match="'promo' already exists"):
        catalog.add("promo", "cd" * 32, "promo.aep", 10, inspect_project(template), 6.0)
    with pytest.raises(TemplateNotFound, match="did you mean 'promo'"):
        catalog.get("promos")
    store.close()

    reopened = TemplateCatalog(SqliteStore(tmp_path / "aefarm.db"))
    assert reopened.get("promo").info == record.info


def test_template_add_list_show_through_the_cli(controller: str, template: Path) -> None:
    added = run_json(controller, "template", "add", str(template), "--name", "promo")
    assert added["name"] == "promo"
    assert added["url"] == f"artifact://{added['sha256']}/promo.aep"
    assert added["fonts"] == ["MyriadPro-Regular"]

    listed = run_json(controller, "template", "list")
    assert [entry["id"] for entry in listed] == [added["id"]]

    shown = run_json(controller, "template", "show", added["id"])
    comps = {comp["name"]: comp for comp in shown["compositions"]}
    assert comps["Main"]["layers"][2] == {
        "index": 3,
        "name": "Inner",
        "type": "precomp",
        "source": "Inner",
        "source_composition": "Inner",
        "effects": [],
    }
    assert comps["Main"]["controllers"] == []
    text = run_cli(controller, "template", "show", "promo")
    assert text.returncode == 0, text.stderr
    assert "Title" in text.stdout
    assert "MyriadPro-Regular" in text.stdout

    again = run_cli(controller, "template", "add", str(template), "--name", "promo")
    assert again.returncode == 2
    assert "'promo' already exists" in again.stderr

    missing = run_cli(controller, "template", "show", "promot")
    assert missing.returncode == 1
    assert "did you mean 'promo'" in missing.stderr


def test_submit_resolves_template_id_to_the_stored_file(
    controller: str, template: Path, tmp_path: Path
) -> None:
    added = run_json(controller, "template", "add", str(template))
    assert added["name"] == "promo"
    job = {
        "template": {"id": "promo", "composition": "Main"},
        "assets": [
            {"type": "data", "layerName": "Title", "property": "Source Text", "value": "Hi"}
        ],
    }
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    submitted = run_json(controller, "submit", str(job_path))
    shown = run_json(controller, "job", submitted["job"]["id"])
    assert shown["spec"]["template"]["src"] == added["url"]
    assert shown["spec"]["template"]["sha256"] == added["sha256"]
    assert shown["spec"]["template"]["fonts"] == ["MyriadPro-Regular"]


def test_submit_rejects_unknown_names_with_suggestions(
    controller: str, template: Path, tmp_path: Path
) -> None:
    run_json(controller, "template", "add", str(template))
    job = {
        "template": {"id": "promo", "composition": "Mian"},
        "assets": [{"type": "image", "src": "https://127.0.0.1/x.png", "layerName": "Bgg"}],
    }
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    result = run_cli(controller, "submit", str(job_path))
    assert result.returncode == 2
    assert "$.template.composition" in result.stderr
    assert "did you mean 'Main'" in result.stderr
    assert "$.assets[0].layerName" in result.stderr
    assert "did you mean 'Bg'" in result.stderr
    assert run_json(controller, "jobs") == []

    job["template"] = {"id": "promotion", "composition": "Main"}
    job_path.write_text(json.dumps(job))
    result = run_cli(controller, "submit", str(job_path))
    assert result.returncode == 2
    assert "$.template.id" in result.stderr
    assert "did you mean 'promo'" in result.stderr
