"""The simulator's script host: ExtendScript under Node.js against a py-aep project.

Each test runs a real Node.js process on a real .aep and checks the py-aep project that the
script leaves, which is what the simulator renders and the After Effects stand-in saves.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import py_aep
import pytest

from agent.simulator.script_host import ScriptError
from tests.unit.test_script_host_support import (
    HOSTILE,
    HOSTILE_LAYER,
    HOSTILE_VALUES,
    build_scene,
    comp_named,
    layer_named,
    needs_node,
    run_source,
)
from tests.unit.test_simulator_support import FFMPEG

pytestmark = needs_node


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return build_scene(tmp_path / "scene.aep")


def test_reads_items_layers_and_values(tmp_path: Path, scene: Path) -> None:
    source = """
    var found = [];
    for (var i = 1; i <= app.project.numItems; i++) {
      var item = app.project.item(i);
      found.push(item.name + ':' + item.typeName + ':' + (item instanceof CompItem));
    }
    $.writeln(found.join(','));
    var mainIndex = 0;
    for (var j = 1; j <= app.project.items.length; j++) {
      if (app.project.items[j].name === 'Main') { mainIndex = j; }
    }
    var main = app.project.items[mainIndex];
    $.writeln([main.name, main.width, main.height, main.frameRate, main.duration,
      main.numLayers, main.layers.length].join(','));
    var title = main.layer(1);
    $.writeln([title.name, title.index, title instanceof TextLayer, title instanceof AVLayer,
      title.enabled, title.source === null || title.source === undefined].join(','));
    $.writeln(main.layer('Mover') === main.layers.byName('Mover'));
    $.writeln(main.layers[2] === main.layer(2));
    $.writeln(main.layer('Nobody') === null);
    $.writeln(main.layer(3).source.name + ':' + (main.layer(3).source instanceof FootageItem));
    $.writeln(main.layer(3).source.mainSource instanceof SolidSource);
    var position = main.layer('Mover').property('Transform').property('Position');
    $.writeln(position.value.join(',') + ':' + (position.value instanceof Array));
    $.writeln(position.propertyValueType === PropertyValueType.ThreeD_SPATIAL);
    $.writeln(title.sourceText.value instanceof TextDocument);
    var text = title.text.sourceText.value;
    $.writeln(title.property('Source Text').value.text + ':' + text.fontSize);
    $.writeln(main.layer(2).transform.opacity.value + ':' + main.layer(2).opacity.value);
    $.writeln(comp('Other').usedIn.length + ':' + main.layer(3).containingComp.name);
    """
    _, lines = run_source(tmp_path, source, scene)

    found = lines[0].split(",")
    assert "Other:Composition:true" in found
    assert "Main:Composition:true" in found
    assert "Solids:Folder:false" in found
    assert "Slot:Footage:false" in found
    assert lines[1] == "Main,160,90,25,1,4,4"
    assert lines[2] == "Title,1,true,true,true,true"
    assert lines[3:6] == ["true", "true", "true"]
    assert lines[6] == "Slot:true"
    assert lines[7] == "true"
    assert lines[8] == "100,45,0:true"
    assert lines[9:11] == ["true", "true"]
    assert lines[11] == "Hello:20"
    assert lines[12] == "100:100"
    assert lines[13] == "0:Main"


def test_text_colour_and_transform_changes_reach_the_project(tmp_path: Path, scene: Path) -> None:
    source = """
    var main = comp('Main');
    var title = main.layer('Title');
    var document = title.property('Source Text').value;
    document.text = 'Changed';
    document.fillColor = [1, 0, 1];
    document.fontSize = 30;
    title.property('Source Text').setValue(document);
    var mover = main.layer('Mover');
    mover.property('Transform').property('Position').setValue([100, 80]);
    mover.transform.scale.setValue([50, 50, 100]);
    mover.property('ADBE Transform Group').property('ADBE Rotate Z').setValue(45);
    mover.opacity.setValue(40);
    mover.anchorPoint.setValue([1, 2]);
    main.layer('Slot').enabled = false;
    main.layer('Bg').name = 'Background';
    mover.position.expression = 'value';
    """
    session, _ = run_source(tmp_path, source, scene)
    main = comp_named(session.project, "Main")
    document = layer_named(main, "Title").text.source_text.value
    mover = layer_named(main, "Mover").transform

    assert document.text == "Changed"
    assert document.fill_color == [1.0, 0.0, 1.0]
    assert document.font_size == 30.0
    assert mover.position.value == [100.0, 80.0, 0.0]
    assert mover.scale.value == [50.0, 50.0, 100.0]
    assert mover.rotation.value == 45.0
    assert mover.opacity.value == 40.0
    assert mover.anchor_point.value[:2] == [1.0, 2.0]
    assert mover.position.expression == "value"
    assert not layer_named(main, "Slot").enabled
    assert [layer.name for layer in main.layers][-1] == "Background"


def test_new_text_document_keeps_the_style(tmp_path: Path, scene: Path) -> None:
    source = """
    var title = comp('Main').layer(1);
    title.sourceText.setValue(new TextDocument('Only the text'));
    $.writeln(title.sourceText.value.fontSize);
    title.sourceText.setValue('Plain string');
    """
    session, lines = run_source(tmp_path, source, scene)
    document = layer_named(comp_named(session.project, "Main"), "Title").text.source_text.value

    assert lines == ["20"]
    assert document.text == "Plain string"
    assert document.font_size == 20.0
    assert document.fill_color == [1.0, 1.0, 1.0]


def test_hostile_names_and_values_arrive_intact(tmp_path: Path) -> None:
    scene = build_scene(tmp_path / "scene.aep", title_name=HOSTILE_LAYER)
    values = tmp_path / "values.json"
    values.write_text(json.dumps(HOSTILE_VALUES), encoding="utf-8")
    source = f"""
    var file = new File({json.dumps(str(values))});
    file.encoding = 'UTF-8';
    file.open('r');
    var values = JSON.parse(file.read());
    file.close();
    var main = comp('Main');
    var layer = main.layer({json.dumps(HOSTILE_LAYER)});
    layer.sourceText.setValue(values.join('|'));
    main.layer('Mover').name = values[0];
    main.layer('Slot').comment = values[3];
    $.writeln(layer.name === {json.dumps(HOSTILE_LAYER)});
    $.writeln(main.layers.byName(values[0]).index);
    """
    session, lines = run_source(tmp_path, source, scene)
    main = comp_named(session.project, "Main")

    assert lines == ["true", "2"]
    # Text documents keep line breaks as one kind (py-aep, like After Effects, normalises them).
    joined = "|".join(HOSTILE_VALUES).replace("\r\n", "\n")
    assert layer_named(main, HOSTILE_LAYER).text.source_text.value.text == joined
    assert main.layers[1].name == HOSTILE
    assert layer_named(main, "Slot").comment == HOSTILE_VALUES[3]


def test_import_and_replace_source(tmp_path: Path, scene: Path) -> None:
    image = tmp_path / "it's ünïcödé.png"
    command = [FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=0x00ff00:s=40x30"]
    subprocess.run([*command, "-frames:v", "1", str(image)], check=True)
    source = f"""
    var item = app.project.importFile(new ImportOptions(new File({json.dumps(str(image))})));
    var slot = comp('Main').layer('Slot');
    slot.replaceSource(item, false);
    $.writeln([item.name, item.width, item.height, item instanceof FootageItem,
      item.mainSource instanceof FileSource, slot.source === item].join(','));
    $.writeln(item.file.fsName === {json.dumps(str(image))});
    """
    session, lines = run_source(tmp_path, source, scene)
    main = comp_named(session.project, "Main")
    replaced = main.layers[2]

    assert lines == [f"{image.name},40,30,true,true,true", "true"]
    assert Path(replaced.source.main_source.file) == image


def test_thrown_error_reports_message_and_line(tmp_path: Path, scene: Path) -> None:
    with pytest.raises(ScriptError) as caught:
        run_source(tmp_path, "var a = 1;\n\nthrow new Error('bad \"thing\" 🎬');\n", scene)

    assert caught.value.message == 'Error: bad "thing" 🎬'
    assert caught.value.line == 3
    assert caught.value.file.endswith("script.jsx")
    assert caught.value.describe().endswith("(line 3 of " + caught.value.file + ")")


def test_unsupported_call_names_its_line(tmp_path: Path, scene: Path) -> None:
    with pytest.raises(ScriptError) as caught:
        run_source(tmp_path, "var main = comp('Main');\n\nmain.layers.addText('x');\n", scene)

    assert "layers.addText is not supported by the aerender simulator" in caught.value.message
    assert caught.value.line == 3


def test_model_error_messages(tmp_path: Path, scene: Path) -> None:
    source = """var main = comp('Main');
    function attempt(action) {
      try { action(); return 'no error'; } catch (e) { return e.line + ': ' + e.message; }
    }
    $.writeln(attempt(function () { main.layer(9); }));
    $.writeln(attempt(function () { main.layer('Mover').position.setValue('left'); }));
    $.writeln(attempt(function () { main.layer('Mover').position.setValue([1, 2, 3, 4]); }));
    $.writeln(attempt(function () { main.layer('Title').sourceText.setValue(null); }));
    $.writeln(attempt(function () { main.layer('Slot').replaceSource('x', false); }));
    $.writeln(attempt(function () { main.layer('Slot').enabled = 'yes'; }));
    $.writeln(attempt(function () { comp('Other').width = 2; }));
    """
    _, lines = run_source(tmp_path, source, scene)

    assert (
        lines[0] == '5: Unable to call "layer" because of parameter 1. Value 9 out of range 1 to 4.'
    )
    assert lines[1].startswith("6: ")
    assert 'Expected an array of 3 numbers, not "left"' in lines[1]
    assert "Expected an array of 3 numbers, not 4" in lines[2]
    assert "a TextDocument or a string" in lines[3]
    assert "not an AVItem" in lines[4]
    assert "enabled cannot be set" in lines[5]
    assert "outside 4 to 30000 pixels" in lines[6]


def test_syntax_error_reports_line(tmp_path: Path, scene: Path) -> None:
    with pytest.raises(ScriptError) as caught:
        run_source(tmp_path, "var ok = 1;\nvar broken = ;\n", scene)

    assert caught.value.message.startswith("SyntaxError:")
    assert caught.value.line == 2


def test_thrown_string_is_the_message(tmp_path: Path, scene: Path) -> None:
    with pytest.raises(ScriptError) as caught:
        run_source(tmp_path, "throw 'plain " + HOSTILE.replace('"', '\\"') + "';\n", scene)

    assert caught.value.message == "plain " + HOSTILE
    assert caught.value.line == 0


def test_script_sees_no_node_globals(tmp_path: Path, scene: Path) -> None:
    source = "$.writeln([typeof require, typeof process, typeof module, typeof app].join(','));"
    _, lines = run_source(tmp_path, source, scene)

    assert lines == ["undefined,undefined,undefined,object"]


def test_render_engine_globals_by_mode(tmp_path: Path, scene: Path) -> None:
    source = (
        "$.writeln(app.isRenderEngine + ' ' + (typeof gAECommandLineRenderer));\n"
        "if (typeof gAECommandLineRenderer !== 'undefined') "
        "{ gAECommandLineRenderer.log_file.writeln('NX: logged'); }\n"
    )
    _, aerender_lines = run_source(tmp_path, source, scene, mode="aerender")
    _, afterfx_lines = run_source(tmp_path, source, scene, mode="afterfx")

    assert aerender_lines == ["true object", "NX: logged"]
    assert afterfx_lines == ["false undefined"]


def test_open_and_save_the_project(tmp_path: Path, scene: Path) -> None:
    target = tmp_path / "saved copy 'ü'.aep"
    source = f"""
    $.writeln(app.project.file === null);
    app.open(new File({json.dumps(str(scene))}));
    $.writeln(app.project.file.fsName === {json.dumps(str(scene))});
    comp('Main').layer('Title').sourceText.setValue('Saved');
    app.project.save(new File({json.dumps(str(target))}));
    comp('Main').layer('Title').sourceText.setValue('Saved again');
    app.project.save();
    """
    _, lines = run_source(tmp_path, source, None, mode="afterfx")
    saved = py_aep.parse(target).project

    assert lines == ["true", "true"]
    title = layer_named(comp_named(saved, "Main"), "Title")
    assert title.text.source_text.value.text == "Saved again"
    assert py_aep.parse(scene).project is not None
    original = layer_named(comp_named(py_aep.parse(scene).project, "Main"), "Title")
    assert original.text.source_text.value.text == "Hello"
    assert [path.name for path in tmp_path.iterdir() if "aefarm-saving" in path.name] == []


def test_save_of_untitled_project_needs_a_file(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as caught:
        run_source(tmp_path, "app.project.save();\n", None, mode="afterfx")

    assert "never saved" in caught.value.message
