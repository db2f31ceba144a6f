"""The script host's File, Folder and $: real files, #include, and errors in included files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.simulator.script_host import ScriptError
from tests.unit.test_script_host_support import HOSTILE_VALUES, needs_node, run_source

pytestmark = needs_node


def test_file_round_trip_keeps_every_character(tmp_path: Path) -> None:
    folder = tmp_path / 'it\'s "odd" ü 🎬'
    folder.mkdir()
    target = folder / "out.txt"
    text = "\n".join(HOSTILE_VALUES)
    source = f"""
    var file = new File({json.dumps(str(target))});
    file.encoding = 'UTF-8';
    $.writeln(file.exists);
    $.writeln(file.open('w'));
    file.write({json.dumps(text)});
    file.close();
    var again = File({json.dumps(str(target))});
    again.encoding = 'UTF-8';
    again.open('r');
    var read = again.read();
    again.close();
    $.writeln(read === {json.dumps(text)});
    $.writeln([again.exists, again.name, again.parent.fsName === {json.dumps(str(folder))},
      again instanceof File].join(','));
    again.open('a');
    again.writeln('appended');
    again.close();
    again.open('r');
    $.writeln(again.readln());
    again.close();
    """
    _, lines = run_source(tmp_path, source)

    assert lines == ["false", "true", "true", "true,out.txt,true,true", HOSTILE_VALUES[0]]
    assert target.read_bytes().decode("utf-8") == text + "appended\n"


def test_binary_encoding_keeps_bytes(tmp_path: Path) -> None:
    target = tmp_path / "bytes.bin"
    target.write_bytes(bytes(range(256)))
    source = f"""
    var file = new File({json.dumps(str(target))});
    file.encoding = 'BINARY';
    file.open('r');
    var data = file.read();
    file.close();
    $.writeln(data.length + ' ' + data.charCodeAt(255));
    var copy = new File({json.dumps(str(tmp_path / "copy.bin"))});
    copy.encoding = 'BINARY';
    copy.open('w');
    copy.write(data);
    copy.close();
    """
    _, lines = run_source(tmp_path, source)

    assert lines == ["256 255"]
    assert (tmp_path / "copy.bin").read_bytes() == bytes(range(256))


def test_open_of_missing_file_fails_softly(tmp_path: Path) -> None:
    source = f"""
    var file = new File({json.dumps(str(tmp_path / "none.txt"))});
    $.writeln(file.open('r') + ' ' + (file.error !== ''));
    $.writeln(file.write('x'));
    """
    _, lines = run_source(tmp_path, source)

    assert lines == ["false true", "false"]


def test_folder_create_and_list(tmp_path: Path) -> None:
    made = tmp_path / "made" / "deeper"
    (tmp_path / "a.jsx").write_text("", encoding="utf-8")
    (tmp_path / "b.txt").write_text("", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    source = f"""
    var folder = new Folder({json.dumps(str(made))});
    $.writeln(folder.exists + ' ' + folder.create() + ' ' + folder.exists);
    var listed = new Folder({json.dumps(str(tmp_path))}).getFiles('*.jsx');
    var names = [];
    for (var i = 0; i < listed.length; i++) {{ names.push(listed[i].name); }}
    $.writeln(names.sort().join(','));
    var folders = new Folder({json.dumps(str(tmp_path))}).getFiles(function (entry) {{
      return entry instanceof Folder;
    }});
    var folderNames = [];
    for (var j = 0; j < folders.length; j++) {{ folderNames.push(folders[j].name); }}
    $.writeln(folderNames.sort().join(','));
    $.writeln(Folder.temp.exists);
    """
    _, lines = run_source(tmp_path, source)

    assert lines == ["false true true", "a.jsx,script.jsx", "made,sub", "true"]
    assert made.is_dir()


def test_include_and_eval_file(tmp_path: Path) -> None:
    library = tmp_path / "lib 'x'"
    library.mkdir()
    (library / "helpers.jsx").write_text(
        "#target aftereffects\nfunction greet(name) { return 'hi ' + name; }\n"
        "var includedFrom = $.fileName;\n",
        encoding="utf-8",
    )
    (tmp_path / "second.jsx").write_text("$.global.fromSecond = 42; 'last value';\n")
    source = (
        "#target aftereffects\n"
        "#include \"lib 'x'/helpers.jsx\"\n"
        "$.writeln(greet('you') + ' ' + includedFrom.split('/').pop());\n"
        f"$.writeln($.evalFile({json.dumps(str(tmp_path / 'second.jsx'))}) + ' ' + fromSecond);\n"
        "$.writeln($.fileName.split('/').pop());\n"
    )
    _, lines = run_source(tmp_path, source)

    assert lines == ["hi you helpers.jsx", "last value 42", "script.jsx"]


def test_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "broken.jsx").write_text("var a = 1;\nnull.property;\n", encoding="utf-8")
    source = "var before = 1;\n$.evalFile(new File($.fileName).parent.fsName + '/broken.jsx');\n"
    with pytest.raises(ScriptError) as caught:
        run_source(tmp_path, source)

    assert caught.value.message.startswith("TypeError:")
    assert caught.value.line == 2
    assert caught.value.file == str(tmp_path / "broken.jsx")


def test_caught_error_has_extendscript_line(tmp_path: Path) -> None:
    source = (
        "var seen = '';\n"
        "try {\n"
        "  undefinedFunction();\n"
        "} catch (error) { seen = error.line + ' ' + (error instanceof ReferenceError); }\n"
        "$.writeln(seen);\n"
    )
    _, lines = run_source(tmp_path, source)

    assert lines == ["3 true"]


def test_compiled_script_is_rejected(tmp_path: Path) -> None:
    compiled = tmp_path / "tool.jsxbin"
    compiled.write_text("@JSXBIN@ES@2.0@MyBbyBn0AB", encoding="utf-8")
    with pytest.raises(ScriptError) as caught:
        run_source(tmp_path, f"$.evalFile({json.dumps(str(compiled))});\n")

    assert ".jsxbin" in caught.value.message


def test_alert_and_writeln_go_to_the_log(tmp_path: Path) -> None:
    source = "alert('careful');\n$.write('a', 1, true);\n$.writeln();\n"
    _, lines = run_source(tmp_path, source)

    assert lines == ["alert: careful", "a1true", ""]
