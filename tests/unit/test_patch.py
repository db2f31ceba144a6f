"""Patching projects with py-aep: footage by layer name and index, Source Text, properties."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import py_aep
import pytest

from agent.errors import LeaseFailure
from agent.patch import DataPatch, FootagePatch, LayerTarget, data_patch_from_proto, patch_project
from agent.project_info import expected_frames, read_comp_info
from protos import common_pb2


def make_png(path: Path) -> Path:
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=green:s=32x18",
            "-frames:v",
            "1",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """Main (320x180, 25 fps, 2 s) with Title on top and the solid Slot below, and Other."""
    app = py_aep.new()
    folder = app.project.root_folder
    main = folder.add_comp("Main", 320, 180, 1.0, 2.0, 25.0)
    main.add_solid([0.0, 0.0, 1.0], name="Slot")
    title = main.add_text("Placeholder")
    title.name = "Title"
    other = folder.add_comp("Other", 100, 100, 1.0, 1.0, 25.0)
    other.add_solid([1.0, 0.0, 0.0], name="Slot")
    path = tmp_path / "template.aep"
    app.project.save(path)
    return path


def reopen(path: Path) -> dict[str, Any]:
    project = py_aep.parse(path).project
    return {comp.name: comp for comp in project.compositions}


def source_name(layer: Any) -> str | None:
    source = getattr(layer, "source", None)
    return None if source is None else source.name


def test_footage_by_layer_name_keeps_name(template: Path, tmp_path: Path) -> None:
    png = make_png(tmp_path / "logo.png")
    patch = FootagePatch(LayerTarget(layer_name="Slot", composition="Main"), png)
    info, report = patch_project(template, tmp_path / "project.aep", "Main", [patch], [])
    comps = reopen(tmp_path / "project.aep")
    slot = comps["Main"].layer("Slot")
    assert source_name(slot) == "logo.png"
    assert slot.name == "Slot"
    assert source_name(comps["Other"].layer("Slot")) != "logo.png"
    assert report.layers_replaced == ["Main/Slot"]
    assert info.width == 320
    assert info.frame_rate == 25.0


def test_footage_by_one_based_index(template: Path, tmp_path: Path) -> None:
    png = make_png(tmp_path / "logo.png")
    # Layer 1 is the top layer (Title), layer 2 the solid Slot.
    patch = FootagePatch(LayerTarget(layer_index=2, composition="Main"), png)
    patch_project(template, tmp_path / "project.aep", "Main", [patch], [])
    main = reopen(tmp_path / "project.aep")["Main"]
    assert source_name(main.layers[1]) == "logo.png"
    assert main.layers[1].name == "Slot"


def test_footage_in_every_composition(template: Path, tmp_path: Path) -> None:
    png = make_png(tmp_path / "logo.png")
    patch = FootagePatch(LayerTarget(layer_name="Slot"), png)
    _, report = patch_project(template, tmp_path / "project.aep", "Main", [patch], [])
    comps = reopen(tmp_path / "project.aep")
    assert source_name(comps["Main"].layer("Slot")) == "logo.png"
    assert source_name(comps["Other"].layer("Slot")) == "logo.png"
    assert sorted(report.layers_replaced) == ["Main/Slot", "Other/Slot"]


def test_source_text(template: Path, tmp_path: Path) -> None:
    asset = common_pb2.DataAsset(
        layer_name="Title", composition="Main", property=["Source Text"], value_json='"Hello"'
    )
    patch_project(template, tmp_path / "project.aep", "Main", [], [data_patch_from_proto(asset)])
    title = reopen(tmp_path / "project.aep")["Main"].layer("Title")
    assert title.text.source_text.value.text == "Hello"


def test_source_text_from_number(template: Path, tmp_path: Path) -> None:
    patch = DataPatch(LayerTarget("Title"), ("Source Text",), 42, has_value=True)
    patch_project(template, tmp_path / "project.aep", "Main", [], [patch])
    title = reopen(tmp_path / "project.aep")["Main"].layer("Title")
    assert title.text.source_text.value.text == "42"


def test_transform_values_and_expression(template: Path, tmp_path: Path) -> None:
    patches = [
        DataPatch(LayerTarget("Slot", composition="Main"), ("Opacity",), 40, has_value=True),
        DataPatch(
            LayerTarget("Slot", composition="Main"), ("Transform", "Position"), [10, 20], True
        ),
        DataPatch(LayerTarget("Slot", composition="Main"), ("Scale",), expression="[50, 50]"),
    ]
    _, report = patch_project(template, tmp_path / "project.aep", "Main", [], patches)
    slot = reopen(tmp_path / "project.aep")["Main"].layer("Slot")
    assert slot.transform["Opacity"].value == 40.0
    assert slot.transform["Position"].value == [10.0, 20.0, 0.0]
    assert slot.transform["Scale"].expression == "[50, 50]"
    assert len(report.properties_set) == 3


def test_missing_layer_lists_existing(template: Path, tmp_path: Path) -> None:
    patch = FootagePatch(LayerTarget("Logo", composition="Main"), make_png(tmp_path / "l.png"))
    with pytest.raises(LeaseFailure) as failure:
        patch_project(template, tmp_path / "project.aep", "Main", [patch], [])
    assert failure.value.code == "layer_not_found"
    assert "'Logo'" in failure.value.message
    assert "'Title'" in failure.value.message
    assert "'Slot'" in failure.value.message
    assert not (tmp_path / "project.aep").exists()


def test_index_past_last_layer(template: Path, tmp_path: Path) -> None:
    patch = FootagePatch(LayerTarget(layer_index=3, composition="Main"), tmp_path / "l.png")
    with pytest.raises(LeaseFailure) as failure:
        patch_project(template, tmp_path / "project.aep", "Main", [patch], [])
    assert failure.value.code == "layer_not_found"
    assert "#3" in failure.value.message


def test_missing_composition_lists_existing(template: Path, tmp_path: Path) -> None:
    patch = DataPatch(LayerTarget("Title", composition="Outro"), ("Source Text",), "x", True)
    with pytest.raises(LeaseFailure) as failure:
        patch_project(template, tmp_path / "project.aep", "Main", [], [patch])
    assert failure.value.code == "comp_not_found"
    assert "'Outro'" in failure.value.message
    assert "'Main'" in failure.value.message
    assert "'Other'" in failure.value.message


def test_render_composition_missing(template: Path, tmp_path: Path) -> None:
    with pytest.raises(LeaseFailure) as failure:
        read_comp_info(template, "main")
    assert failure.value.code == "comp_not_found"


def test_text_layer_has_no_source(template: Path, tmp_path: Path) -> None:
    patch = FootagePatch(LayerTarget("Title", composition="Main"), make_png(tmp_path / "l.png"))
    with pytest.raises(LeaseFailure) as failure:
        patch_project(template, tmp_path / "project.aep", "Main", [patch], [])
    assert failure.value.code == "layer_not_replaceable"
    assert "'Title'" in failure.value.message


def test_unknown_property(template: Path, tmp_path: Path) -> None:
    patch = DataPatch(LayerTarget("Slot"), ("Effects", "Skin_Color", "Color"), [1, 0, 0], True)
    with pytest.raises(LeaseFailure) as failure:
        patch_project(template, tmp_path / "project.aep", "Main", [], [patch])
    assert failure.value.code == "property_not_found"
    assert "Effects -> Skin_Color -> Color" in failure.value.message


def test_property_group_is_unsupported(template: Path, tmp_path: Path) -> None:
    patch = DataPatch(LayerTarget("Slot"), ("Transform",), 1, has_value=True)
    with pytest.raises(LeaseFailure) as failure:
        patch_project(template, tmp_path / "project.aep", "Main", [], [patch])
    assert failure.value.code == "unsupported_property"


def test_invalid_value_is_unsupported(template: Path, tmp_path: Path) -> None:
    patch = DataPatch(LayerTarget("Slot"), ("Opacity",), "opaque", has_value=True)
    with pytest.raises(LeaseFailure) as failure:
        patch_project(template, tmp_path / "project.aep", "Main", [], [patch])
    assert failure.value.code == "unsupported_property"
    assert "Opacity" in failure.value.message


def test_value_json_must_parse() -> None:
    asset = common_pb2.DataAsset(layer_name="Title", property=["Source Text"], value_json="{bad")
    with pytest.raises(LeaseFailure) as failure:
        data_patch_from_proto(asset)
    assert failure.value.code == "invalid_value"


def test_unreadable_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.aep"
    broken.write_bytes(b"RIFX not really")
    with pytest.raises(LeaseFailure) as failure:
        read_comp_info(broken, "Main")
    assert failure.value.code == "template_invalid"


def test_nested_composition_path(tmp_path: Path) -> None:
    app = py_aep.new()
    folder = app.project.root_folder
    inner = folder.add_comp("Inner", 100, 100, 1.0, 1.0, 25.0)
    inner.add_solid([0.0, 1.0, 0.0], name="Slot")
    outer = folder.add_comp("Outer", 100, 100, 1.0, 1.0, 25.0)
    layer = outer.add_solid([0.0, 0.0, 0.0], name="Holder")
    layer.replace_source(inner, False)
    path = tmp_path / "nested.aep"
    app.project.save(path)
    png = make_png(tmp_path / "logo.png")
    patch = FootagePatch(LayerTarget("Slot", composition="Outer->Inner"), png)
    patch_project(path, tmp_path / "project.aep", "Outer", [patch], [])
    assert source_name(reopen(tmp_path / "project.aep")["Inner"].layer("Slot")) == "logo.png"


def test_expected_frames(template: Path) -> None:
    info = read_comp_info(template, "Main")
    assert info.work_area_frames == 50
    assert expected_frames(info, None, None, 1) == 50
    assert expected_frames(info, 0, 9, 1) == 10
    assert expected_frames(info, 0, 9, 3) == 4
    assert expected_frames(info, 5, 5, 1) == 1
    with pytest.raises(LeaseFailure) as failure:
        expected_frames(info, 9, 0, 1)
    assert failure.value.code == "invalid_frame_range"


def test_report_is_json_friendly(template: Path, tmp_path: Path) -> None:
    patch = DataPatch(LayerTarget("Title"), ("Source Text",), {"text": "Hi"}, has_value=True)
    _, report = patch_project(template, tmp_path / "project.aep", "Main", [], [patch])
    assert json.dumps(report.properties_set) == '["Main/Title/Source Text"]'


@pytest.fixture
def twin_slots(tmp_path: Path) -> Path:
    """Main with two solids both named Slot."""
    app = py_aep.new()
    main = app.project.root_folder.add_comp("Main", 320, 180, 1.0, 2.0, 25.0)
    for color in ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0]):
        layer = main.add_solid(color, name="Slot")
        layer.name = "Slot"
    path = tmp_path / "twins.aep"
    app.project.save(path)
    return path


def test_repeated_layer_name_fails_without_every_match(twin_slots: Path, tmp_path: Path) -> None:
    png = make_png(tmp_path / "logo.png")
    patch = FootagePatch(LayerTarget(layer_name="Slot", composition="Main"), png)

    with pytest.raises(LeaseFailure) as caught:
        patch_project(twin_slots, tmp_path / "project.aep", "Main", [patch], [])

    assert caught.value.code == "layer_ambiguous"
    assert "at the indexes 1, 2" in caught.value.message


def test_every_match_patches_each_layer(twin_slots: Path, tmp_path: Path) -> None:
    png = make_png(tmp_path / "logo.png")
    target = LayerTarget(layer_name="Slot", composition="Main", every_match=True)

    patch_project(twin_slots, tmp_path / "project.aep", "Main", [FootagePatch(target, png)], [])

    main = reopen(tmp_path / "project.aep")["Main"]
    assert [source_name(layer) for layer in main.layers] == ["logo.png", "logo.png"]
    assert [layer.name for layer in main.layers] == ["Slot", "Slot"]
