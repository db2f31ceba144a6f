"""A template project for the template tests, built with py-aep."""

from __future__ import annotations

import json
from pathlib import Path

import py_aep

from controller.templates import TemplateCatalog


def build_template(path: Path) -> Path:
    """Save a project with these compositions (layers top first, 1-based):

    Main 320x180, 25 fps, 2 s: 1 Dup (solid), 2 Dup (solid), 3 Inner (precomp), 4 Bg (solid),
      5 Title (text).
    Inner 160x90, 25 fps, 2 s: 1 Caption (text), 2 Slot (solid).
    Other 100x100, 25 fps, 1 s: 1 Slot (solid).
    """
    app = py_aep.new()
    folder = app.project.root_folder
    inner = folder.add_comp("Inner", 160, 90, 1.0, 2.0, 25.0)
    inner.add_solid([1.0, 0.0, 0.0], name="Slot")
    caption = inner.add_text("Caption text")
    caption.name = "Caption"
    main = folder.add_comp("Main", 320, 180, 1.0, 2.0, 25.0)
    title = main.add_text("Placeholder")
    title.name = "Title"
    main.add_solid([0.0, 0.0, 1.0], name="Bg")
    main.add(inner)
    main.add_solid([0.0, 1.0, 0.0], name="Dup")
    main.add_solid([0.0, 1.0, 1.0], name="Dup")
    other = folder.add_comp("Other", 100, 100, 1.0, 1.0, 25.0)
    other.add_solid([1.0, 1.0, 0.0], name="Slot")
    app.project.save(path)
    return path


def job(assets: list[dict[str, object]], template: str = "promo", comp: str = "Main") -> str:
    return json.dumps({"template": {"id": template, "composition": comp}, "assets": assets})


def add_to_catalog(catalog: TemplateCatalog, path: Path, name: str) -> None:
    from controller.template_inspect import inspect_project

    catalog.add(name, "ab" * 32, path.name, path.stat().st_size, inspect_project(path), 1.0)
