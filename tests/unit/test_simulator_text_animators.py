"""The simulator's text colour from text animators that cover all of the text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import py_aep
import pytest

from agent.simulator.scene import TextLayer, read_comp

GREEN = [0.0, 1.0, 0.0, 1.0]


def text_fill(tmp_path: Path, change: Callable[[Any], None]) -> tuple[float, float, float]:
    """Build a magenta text layer, let change add animators, and read it back as the simulator."""
    app = py_aep.new()
    comp = app.project.root_folder.add_comp("Main", 100, 50, 1.0, 1.0, 25.0)
    layer = comp.add_text("Hello")
    layer.text["Source Text"].value.fill_color = [1.0, 0.0, 1.0]
    change(layer)
    path = tmp_path / "text.aep"
    app.project.save(path)
    project = py_aep.parse(path).project
    drawn = read_comp(project.compositions[0]).layers[0]
    assert isinstance(drawn, TextLayer)
    return drawn.fill_color


def add_fill(layer: Any, color: list[float], selector: bool = False) -> Any:
    animator = layer.text["Animators"].add_property("ADBE Text Animator")
    fill = animator["ADBE Text Animator Properties"].add_property("ADBE Text Fill Color")
    fill.value = color
    if selector:
        animator["ADBE Text Selectors"].add_property("ADBE Text Selector")
    return animator


def test_document_colour_without_animators(tmp_path: Path) -> None:
    assert text_fill(tmp_path, lambda layer: None) == (1.0, 0.0, 1.0)


@pytest.mark.parametrize("selector", [False, True])
def test_animator_over_all_text_sets_the_colour(tmp_path: Path, selector: bool) -> None:
    assert text_fill(tmp_path, lambda layer: add_fill(layer, GREEN, selector)) == (0.0, 1.0, 0.0)


def test_last_animator_wins(tmp_path: Path) -> None:
    def change(layer: Any) -> None:
        add_fill(layer, GREEN)
        add_fill(layer, [0.0, 0.0, 1.0, 1.0])

    assert text_fill(tmp_path, change) == (0.0, 0.0, 1.0)


def test_partial_range_keeps_the_document_colour(tmp_path: Path) -> None:
    def change(layer: Any) -> None:
        animator = add_fill(layer, GREEN, selector=True)
        animator["ADBE Text Selectors"].properties[0]["ADBE Text Percent End"].value = 50.0

    assert text_fill(tmp_path, change) == (1.0, 0.0, 1.0)


def test_disabled_animator_keeps_the_document_colour(tmp_path: Path) -> None:
    def change(layer: Any) -> None:
        add_fill(layer, GREEN).enabled = False

    assert text_fill(tmp_path, change) == (1.0, 0.0, 1.0)
