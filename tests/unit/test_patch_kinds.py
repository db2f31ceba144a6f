"""Every kind of patch, checked by reading the saved project again with py-aep.

Footage of each kind (image, video, audio, image sequence), inside a precomposition, in every
composition ("*"), removeOld; data values: text objects, numbers, arrays, colours, expressions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import py_aep
import pytest

from agent.patch import DataPatch, FootagePatch, LayerTarget, patch_project
from tests.unit.test_templates_support import build_template


def ffmpeg(*args: str) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", *args]
    subprocess.run(command, check=True)


def make_media(folder: Path, kind: str) -> Path:
    if kind == "image":
        path = folder / "logo.png"
        ffmpeg("-f", "lavfi", "-i", "color=green:s=32x18", "-frames:v", "1", str(path))
    elif kind == "video":
        path = folder / "clip.mp4"
        ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x36:r=25:d=1", "-pix_fmt", "yuv420p", str(path))
    elif kind == "audio":
        path = folder / "tone.wav"
        ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=1", str(path))
    else:
        sequence = folder / "seq"
        sequence.mkdir()
        pattern = str(sequence / "frame_%05d.png")
        ffmpeg("-f", "lavfi", "-i", "testsrc=s=32x18:r=25:d=0.2", "-start_number", "1", pattern)
        path = sequence / "frame_00001.png"
    return path


@pytest.fixture
def template(tmp_path: Path) -> Path:
    return build_template(tmp_path / "promo.aep")


def reopen(path: Path) -> dict[str, Any]:
    project = py_aep.parse(path).project
    return {comp.name: comp for comp in project.compositions}


def layer(comps: dict[str, Any], comp: str, name: str) -> Any:
    return next(layer for layer in comps[comp].layers if layer.name == name)


def source_name(layer: Any) -> str:
    return str(getattr(layer.source, "name", ""))


@pytest.mark.parametrize("kind", ["image", "video", "audio", "sequence"])
def test_footage_of_every_kind_inside_a_precomp(template: Path, tmp_path: Path, kind: str) -> None:
    media = make_media(tmp_path, kind)
    target = LayerTarget(layer_name="Slot", composition="Main->Inner")
    patch = FootagePatch(target, media, sequence=kind == "sequence")
    patch_project(template, tmp_path / "out.aep", "Main", [patch], [])
    comps = reopen(tmp_path / "out.aep")
    slot = layer(comps, "Inner", "Slot")
    assert isinstance(slot.source, py_aep.FootageItem)
    assert not isinstance(slot.source.main_source, py_aep.SolidSource)
    if kind == "sequence":
        assert slot.source.main_source.is_still is False
        # Five numbered frames make one item of five frames.
        assert slot.source.duration * slot.source.frame_rate == pytest.approx(5)
    else:
        assert Path(slot.source.file).name == media.name
    # The same name in another composition keeps its solid.
    assert isinstance(layer(comps, "Other", "Slot").source.main_source, py_aep.SolidSource)


def test_every_composition_that_has_the_layer(template: Path, tmp_path: Path) -> None:
    media = make_media(tmp_path, "image")
    patch = FootagePatch(LayerTarget(layer_name="Slot", composition="*"), media)
    _, report = patch_project(template, tmp_path / "out.aep", "Main", [patch], [])
    comps = reopen(tmp_path / "out.aep")
    assert source_name(layer(comps, "Inner", "Slot")) == "logo.png"
    assert source_name(layer(comps, "Other", "Slot")) == "logo.png"
    assert sorted(report.layers_replaced) == ["Inner/Slot", "Other/Slot"]


def test_remove_old_removes_only_unused_items(template: Path, tmp_path: Path) -> None:
    media = make_media(tmp_path, "image")
    bg = FootagePatch(LayerTarget(layer_name="Bg", composition="Main"), media, remove_old=True)
    slot = FootagePatch(LayerTarget(layer_name="Slot", composition="Other"), media)
    _, report = patch_project(template, tmp_path / "out.aep", "Main", [bg, slot], [])
    assert report.items_removed == ["Bg"]
    names = [item.name for item in py_aep.parse(tmp_path / "out.aep").project.items.values()]
    assert "Bg" not in names
    assert "Slot" in names


def test_remove_old_keeps_an_item_another_layer_shows(tmp_path: Path) -> None:
    app = py_aep.new()
    main = app.project.root_folder.add_comp("Main", 64, 64, 1.0, 1.0, 25.0)
    first = main.add_solid([1.0, 0.0, 0.0], name="First")
    second = main.add(first.source)
    second.name = "Second"
    app.project.save(tmp_path / "shared.aep")
    media = make_media(tmp_path, "image")
    patch = FootagePatch(LayerTarget(layer_name="First"), media, remove_old=True)
    _, report = patch_project(tmp_path / "shared.aep", tmp_path / "out.aep", "Main", [patch], [])
    assert report.items_removed == []
    comps = reopen(tmp_path / "out.aep")
    assert source_name(layer(comps, "Main", "Second")) == "First"


def data(name: str, path: tuple[str, ...], value: Any = None, expression: str = "") -> DataPatch:
    return DataPatch(LayerTarget(layer_name=name), path, value, value is not None, expression)


def test_data_values_of_every_shape(template: Path, tmp_path: Path) -> None:
    patches = [
        data("Title", ("Source Text",), {"text": "Hello", "fillColor": "#ff0000", "fontSize": 30}),
        data("Caption", ("Source Text",), 42),
        data("Bg", ("Transform", "Opacity"), 40),
        data("Bg", ("Position",), [10, 20]),
        data("Title", ("Scale",), expression="[50, 50]"),
    ]
    patch_project(template, tmp_path / "out.aep", "Main", [], patches)
    comps = reopen(tmp_path / "out.aep")
    title = layer(comps, "Main", "Title")
    document = title.text["Source Text"].value
    assert document.text == "Hello"
    assert list(document.fill_color)[:3] == pytest.approx([1.0, 0.0, 0.0])
    assert document.font_size == pytest.approx(30)
    assert layer(comps, "Inner", "Caption").text["Source Text"].value.text == "42"
    bg = layer(comps, "Main", "Bg")
    assert bg.transform["Opacity"].value == pytest.approx(40)
    assert list(bg.transform["Position"].value) == pytest.approx([10, 20, 0])
    assert title.transform["Scale"].expression == "[50, 50]"
