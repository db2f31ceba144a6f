"""Helpers for the script host tests: a scene built with py-aep, and running scripts on it.

This module contains no tests. The script host tests and tests/e2e/test_scripts_render.py
import it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import py_aep
import pytest

from agent.simulator.script_host import run_script
from agent.simulator.script_project import ProjectSession

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

# Names and values that break scripts which splice text into code or mishandle Unicode.
HOSTILE = '"); alert(1); ("'
HOSTILE_VALUES = [
    HOSTILE,
    "it's \\ a \"quote\" and '); alert(2); //",
    "line one\nline two\r\n</script>",
    "emoji 🎬 and ünïcödé and \u2028 separator \u2029 too",
    "C:\\Users\\o'brien\\Projects\\new\\t.aep",
    "${alert(3)} `backtick` %s %d {{x}}",
]
# A layer name with every kind of trouble at once.
HOSTILE_LAYER = 'Tïtle "quoted" \\ back\u2028slash 🎬'


def solid(comp: Any, color: list[float], name: str, box: tuple[int, int, int, int]) -> Any:
    """Add a solid of box (x, y, width, height) in comp pixels."""
    x, y, width, height = box
    layer = comp.add_solid(color, name=name, width=width, height=height)
    layer.transform["Position"].value = [x + width / 2, y + height / 2, 0.0]
    return layer


def build_scene(path: Path, title_name: str = "Title") -> Path:
    """Save the scene the script tests change, in pixels of Main (160x90, 25 fps, 1 s).

    Main, top first: 1 the text layer title_name ("Hello", white, 20 px, at 10, 30),
    2 Mover (white solid, x 90..110, y 35..55), 3 Slot (red solid, x 0..40, y 60..90),
    4 Bg (blue solid over the whole comp). Other (40x40) has one Slot solid of its own.
    """
    app = py_aep.new()
    folder = app.project.root_folder
    other = folder.add_comp("Other", 40, 40, 1.0, 1.0, 25.0)
    solid(other, [0.0, 1.0, 0.0], "Slot", (0, 0, 40, 40))
    main = folder.add_comp("Main", 160, 90, 1.0, 1.0, 25.0)
    solid(main, [0.0, 0.0, 1.0], "Bg", (0, 0, 160, 90))
    solid(main, [1.0, 0.0, 0.0], "Slot", (0, 60, 40, 30))
    solid(main, [1.0, 1.0, 1.0], "Mover", (90, 35, 20, 20))
    title = main.add_text("Hello")
    title.name = title_name
    title.transform["Position"].value = [10.0, 30.0, 0.0]
    document = title.text.source_text.value
    document.fill_color = [1.0, 1.0, 1.0]
    document.font_size = 20.0
    app.project.save(path)
    return path


def comp_named(project: Any, name: str) -> Any:
    return next(comp for comp in project.compositions if comp.name == name)


def layer_named(comp: Any, name: str) -> Any:
    return next(layer for layer in comp.layers if layer.name == name)


# comp(name) for test scripts. It goes after the script, where it shifts no line number, and
# a function declaration is usable before it.
COMP_HELPER = (
    "function comp(name) { for (var i = 1; i <= app.project.numItems; i++) { "
    "var item = app.project.item(i); "
    "if (item instanceof CompItem && item.name === name) { return item; } } return null; } "
)


def run_source(
    folder: Path,
    source: str,
    project: Path | None = None,
    *,
    mode: str = "aerender",
    name: str = "script.jsx",
) -> tuple[ProjectSession, list[str]]:
    """Run source, with COMP_HELPER, as a script file on the project (untitled if None).

    Returns the session, whose project is what the script left, and the lines it wrote.
    """
    script = folder / name
    script.write_text(source + "\n" + COMP_HELPER + "\n", encoding="utf-8")
    parsed = py_aep.parse(project).project if project is not None else None
    session = ProjectSession(parsed, project)
    lines: list[str] = []
    run_script(script, session, mode=mode, version="26.0x55", log=lines.append)
    return session, lines
