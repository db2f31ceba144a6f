"""A template with Essential Graphics controllers, effects and shared solids, built with py-aep.

The unit tests of essential assets and property paths and tests/e2e/test_essential_render.py
use it.
"""

from __future__ import annotations

import json
from pathlib import Path

import py_aep

from controller.templates import TemplateCatalog

# Comp pixels of the scene build_cards saves.
MAIN_SIZE = (160, 120)
CARD_SIZE = (80, 45)
WHITE_FILL = [1.0, 1.0, 1.0, 1.0]


def solid(comp: py_aep.CompItem, color: list[float], name: str, box: tuple[int, ...]) -> None:
    """Add a solid of box (x, y, width, height) in comp pixels."""
    x, y, width, height = box
    layer = comp.add_solid(color, name=name, width=width, height=height)
    layer.name = name
    layer.transform["Position"].value = [x + width / 2, y + height / 2, 0.0]


def text(comp: py_aep.CompItem, value: str, name: str, at: tuple[float, float]) -> py_aep.Layer:
    layer = comp.add_text(value)
    layer.name = name
    layer.transform["Position"].value = [at[0], at[1], 0.0]
    return layer


def build_cards(path: Path) -> Path:
    """Save this scene (layers top first) and return path.

    Card (80x45): Label, a text layer "MMM" at (4, 38) whose text animator fills it white;
    Panel, a black solid over all of Card. Card's controllers: "Label Text" (Label's Source
    Text), "Label Color" (the animator's Fill Color), "Panel Opacity" (a slider on Panel's
    Opacity) and "Show Label" (a checkbox, the Checkbox Control effect of Label).

    Main (160x120): Knob, a grey solid at x 70..90, y 95..115 with a Slider Control and a
    Color Control effect; Chip Twin and Chip, two layers of one red solid, at x 130..150 and
    x 10..30, y 95..115; Headline, a magenta text layer of one space at (10, 85); Right and Left,
    Card at x 80..160 and x 0..80, y 0..45; Bg, a blue solid over all of Main. Main's
    controller: "Headline" (Headline's Source Text).
    """
    app = py_aep.new()
    folder = app.project.root_folder
    card = folder.add_comp("Card", *CARD_SIZE, 1.0, 1.0, 25.0)
    solid(card, [0.0, 0.0, 0.0], "Panel", (0, 0, *CARD_SIZE))
    label = text(card, "MMM", "Label", (4.0, 38.0))
    label.text["Source Text"].value.font_size = 28.0
    animator = label.text["Animators"].add_property("ADBE Text Animator")
    fill = animator["ADBE Text Animator Properties"].add_property("ADBE Text Fill Color")
    fill.value = WHITE_FILL
    checkbox = label.effects.add_property("ADBE Checkbox Control")
    label.text["Source Text"].add_to_motion_graphics_template_as(card, "Label Text")
    fill.add_to_motion_graphics_template_as(card, "Label Color")
    panel = next(layer for layer in card.layers if layer.name == "Panel")
    panel.transform["Opacity"].add_to_motion_graphics_template_as(card, "Panel Opacity")
    checkbox.properties[0].add_to_motion_graphics_template_as(card, "Show Label")

    main = folder.add_comp("Main", *MAIN_SIZE, 1.0, 1.0, 25.0)
    solid(main, [0.0, 0.0, 1.0], "Bg", (0, 0, *MAIN_SIZE))
    for name, x in (("Left", 40.0), ("Right", 120.0)):
        instance = main.add(card)
        instance.name = name
        instance.transform["Position"].value = [x, 22.5, 0.0]
    # py-aep writes "Text 1" for an empty text, so the headline starts as one space.
    headline = text(main, " ", "Headline", (10.0, 85.0))
    document = headline.text["Source Text"].value
    document.font_size = 30.0
    document.fill_color = [1.0, 0.0, 1.0]
    headline.text["Source Text"].add_to_motion_graphics_template_as(main, "Headline")
    solid(main, [1.0, 0.0, 0.0], "Chip", (10, 95, 20, 20))
    chip = next(layer for layer in main.layers if layer.name == "Chip")
    twin = main.add(chip.source)
    twin.name = "Chip Twin"
    twin.transform["Position"].value = [140.0, 105.0, 0.0]
    solid(main, [0.5, 0.5, 0.5], "Knob", (70, 95, 20, 20))
    knob = next(layer for layer in main.layers if layer.name == "Knob")
    knob.effects.add_property("ADBE Slider Control")
    knob.effects.add_property("ADBE Color Control")
    app.project.save(path)
    return path


def store_as_version_1(catalog: TemplateCatalog, name: str) -> None:
    """Rewrite a stored template's row as the first inspection version wrote it.

    Version 1 had no version field, no controllers and no layer properties.
    """
    record = catalog.get(name)
    old = record.info.to_json()
    del old["version"]
    for comp in old["compositions"]:
        del comp["controllers"]
        for layer in comp["layers"]:
            del layer["properties"]
    with catalog.store.transaction():
        catalog.store.execute(
            "UPDATE templates SET info_json = ? WHERE id = ?", (json.dumps(old), record.id)
        )
