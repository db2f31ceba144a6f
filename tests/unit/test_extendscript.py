"""The generated ExtendScript wrapper, run under Node.js against tests/js's mock of AE."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.errors import LeaseFailure
from agent.extendscript import (
    FootageReplacement,
    ScriptRun,
    afterfx_command,
    read_result,
    script_runs_from_json,
    write_wrapper,
)

JS = Path(__file__).resolve().parents[1] / "js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

HOSTILE = '"); alert(1); ("'
HOSTILE_VALUES = [
    HOSTILE,
    'it\'s \\ a "quote"',
    "line one\nline two\r\n</script>",
    "emoji 🎬 and ünïcödé and \u2028 separator",
    "C:\\Users\\o'brien\\Projects\\new\\t.aep",
    "'); alert(2); //",
]


def run(tmp_path: Path, comps: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    spec = tmp_path / "project.json"
    spec.write_text(json.dumps({"comps": comps}), encoding="utf-8")
    wrapper, result = write_wrapper(tmp_path, **options)
    assert NODE is not None
    completed = subprocess.run(
        [NODE, str(JS / "run_wrapper.js"), str(spec), str(wrapper)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout)
    outcome["result"] = json.loads(result.read_text(encoding="utf-8"))
    return outcome


def calls_named(outcome: dict[str, Any], name: str) -> list[list[Any]]:
    return [call["args"] for call in outcome["calls"] if call["call"] == name]


def user_script(tmp_path: Path, text: str, name: str = "user.jsx") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_hostile_values_arrive_intact_and_inject_nothing(tmp_path: Path) -> None:
    script = user_script(
        tmp_path,
        "var comp = app.project.item(1);\n"
        "comp.comment = [NX.get('a'), NX.b, NX.get('list').join('|')].join('#');\n",
    )
    parameters = {"a": HOSTILE_VALUES[0], "b": HOSTILE_VALUES[2], "list": HOSTILE_VALUES}
    project = tmp_path / 'it\'s "odd" 🎬' / "project.aep"
    outcome = run(
        tmp_path,
        [{"name": "Main", "layers": [{"name": HOSTILE, "source": "old.png"}]}],
        project=project,
        scripts=[ScriptRun(script, "NX", parameters)],
        footage=[FootageReplacement(HOSTILE_VALUES[4], layer_name=HOSTILE)],
    )
    assert outcome["result"] == {"ok": True, "error": ""}
    assert calls_named(outcome, "alert") == []
    assert calls_named(outcome, "open") == [[str(project)]]
    assert calls_named(outcome, "save") == [[str(project)]]
    assert calls_named(outcome, "importFile") == [[HOSTILE_VALUES[4], False]]
    assert calls_named(outcome, "replaceSource") == [[HOSTILE, HOSTILE_VALUES[4], False]]
    comment = outcome["comps"][0]["comment"]
    assert comment == "#".join([HOSTILE_VALUES[0], HOSTILE_VALUES[2], "|".join(HOSTILE_VALUES)])


def test_dialogs_suppressed_around_the_work(tmp_path: Path) -> None:
    script = user_script(tmp_path, "app.project.item(1).comment = 'ran';\n")
    outcome = run(
        tmp_path,
        [{"name": "Main", "layers": []}],
        project=tmp_path / "p.aep",
        scripts=[ScriptRun(script)],
    )
    names = [call["call"] for call in outcome["calls"]]
    assert names[0] == "beginSuppressDialogs"
    assert names[-1] == "endSuppressDialogs"
    assert names.index("evalFile") < names.index("save")


def test_hostile_keyword_and_keys(tmp_path: Path) -> None:
    keyword = 'K"); alert(3); ("'
    script = user_script(
        tmp_path,
        f"var k = $.global[{json.dumps(keyword)}];\n"
        f"app.project.item(1).comment = k.get({json.dumps(HOSTILE)});\n",
    )
    outcome = run(
        tmp_path,
        [{"name": "Main", "layers": []}],
        project=tmp_path / "p.aep",
        scripts=[ScriptRun(script, keyword, {HOSTILE: HOSTILE_VALUES[3]})],
    )
    assert calls_named(outcome, "alert") == []
    assert outcome["comps"][0]["comment"] == HOSTILE_VALUES[3]


def test_layer_index_and_composition(tmp_path: Path) -> None:
    comps = [
        {"name": "Outer", "layers": [{"name": "a"}, {"name": "b"}]},
        {"name": "Inner", "layers": [{"name": "a"}, {"name": "b"}]},
    ]
    outcome = run(
        tmp_path,
        comps,
        project=tmp_path / "p.aep",
        scripts=[],
        footage=[FootageReplacement("/media/x.mov", layer_index=2, composition="Outer->Inner")],
    )
    assert outcome["result"]["ok"]
    assert outcome["comps"][0]["layers"][1]["source"] is None
    assert outcome["comps"][1]["layers"][1]["source"] == "/media/x.mov"


def test_missing_layer_is_reported(tmp_path: Path) -> None:
    outcome = run(
        tmp_path,
        [{"name": "Main", "layers": [{"name": "Logo"}]}],
        project=tmp_path / "p.aep",
        scripts=[],
        footage=[FootageReplacement("/media/x.png", layer_name="Missing")],
    )
    assert not outcome["result"]["ok"]
    assert '"Missing"' in outcome["result"]["error"]
    with pytest.raises(LeaseFailure) as caught:
        read_result(tmp_path / "aefarm-scripts.result.json", "afterfx")
    assert caught.value.code == "script_error"
    assert "Missing" in caught.value.message


def test_failing_user_script_is_reported(tmp_path: Path) -> None:
    script = user_script(tmp_path, "throw new Error('bad \"thing\" 🎬');\n")
    outcome = run(
        tmp_path,
        [{"name": "Main", "layers": []}],
        project=tmp_path / "p.aep",
        scripts=[ScriptRun(script)],
    )
    assert outcome["result"] == {"ok": False, "error": 'Error: bad "thing" 🎬'}
    # A failed script leaves the project unsaved.
    assert calls_named(outcome, "save") == []


def test_patched_aerender_neither_opens_nor_saves(tmp_path: Path) -> None:
    script = user_script(tmp_path, "app.project.item(1).comment = NX.get('x');\n")
    outcome = run(
        tmp_path,
        [{"name": "Main", "layers": []}],
        project=tmp_path / "p.aep",
        scripts=[ScriptRun(script, "NX", {"x": 1})],
        open_and_save=False,
    )
    assert calls_named(outcome, "open") == []
    assert calls_named(outcome, "save") == []
    assert outcome["comps"][0]["comment"] == 1


def test_missing_result_names_the_runner(tmp_path: Path) -> None:
    with pytest.raises(LeaseFailure) as caught:
        read_result(tmp_path / "none.json", "patched-aerender")
    assert "commandLineRenderer.jsx" in caught.value.message
    # The simulator runs -r scripts when it finds Node.js.
    assert "Node.js" in caught.value.message
    assert "ignores" not in caught.value.message


def test_parameters_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(LeaseFailure) as caught:
        script_runs_from_json(tmp_path / "s.jsx", "NX", "[1, 2]")
    assert "JSON object" in caught.value.message
    assert script_runs_from_json(tmp_path / "s.jsx", "", '{"a": 1}').keyword == "NX"


def test_afterfx_command(tmp_path: Path) -> None:
    wrapper = tmp_path / "w.jsx"
    command = afterfx_command("C:/Adobe/AfterFX.exe", wrapper)
    if sys.platform == "darwin":
        assert command[0] == "osascript"
    else:
        assert command == ["C:/Adobe/AfterFX.exe", "-r", str(wrapper)]


def test_afterfx_command_of_a_whole_command(tmp_path: Path) -> None:
    wrapper = tmp_path / "w.jsx"
    command = afterfx_command((sys.executable, "-m", "agent.simulator.afterfx"), wrapper)

    assert command == [sys.executable, "-m", "agent.simulator.afterfx", "-r", str(wrapper)]


def test_no_runner_fails_with_script_runner_missing(tmp_path: Path) -> None:
    import asyncio

    from agent.extendscript import run_scripts

    with pytest.raises(LeaseFailure) as caught:
        asyncio.run(
            run_scripts(
                "",
                "",
                10,
                [ScriptRun(tmp_path / "brand.jsx")],
                tmp_path / "p.aep",
                tmp_path,
                render_follows=True,
            )
        )
    assert caught.value.code == "script_runner_missing"
    assert "brand.jsx" in caught.value.message
    assert "--script-runner" in caught.value.message


def test_afterfx_runner_runs_the_wrapper(tmp_path: Path) -> None:
    """A stand-in AfterFX program that runs `-r SCRIPT` under the Node.js mock."""
    import asyncio

    from agent.extendscript import run_with_afterfx

    spec = tmp_path / "project.json"
    spec.write_text(json.dumps({"comps": [{"name": "Main", "layers": []}]}), encoding="utf-8")
    record = tmp_path / "record.json"
    fake = tmp_path / "AfterFX"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import subprocess, sys\n"
        "assert sys.argv[1] == '-r'\n"
        f"out = subprocess.run([{NODE!r}, {str(JS / 'run_wrapper.js')!r}, {str(spec)!r}, "
        "sys.argv[2]], check=True, capture_output=True).stdout\n"
        f"open({str(record)!r}, 'wb').write(out)\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    script = user_script(tmp_path, "app.project.item(1).comment = NX.get('who');\n")
    wrapper, result = write_wrapper(
        tmp_path, project=tmp_path / "p.aep", scripts=[ScriptRun(script, "NX", {"who": HOSTILE})]
    )
    asyncio.run(run_with_afterfx(str(fake), wrapper, result, timeout=60))
    outcome = json.loads(record.read_text(encoding="utf-8"))
    assert outcome["comps"][0]["comment"] == HOSTILE


def test_patched_aerender_flag_in_argv(tmp_path: Path) -> None:
    from agent.aerender_args import RenderRequest, build_aerender_args

    request = RenderRequest(
        project=tmp_path / "p.aep",
        composition="Main",
        output=tmp_path / "out.mp4",
        output_module="H.264",
        render_settings="Best Settings",
        script=tmp_path / "aefarm-scripts.jsx",
    )
    args = build_aerender_args(["aerender"], "26.0", request)
    assert args[args.index("-r") + 1] == str(tmp_path / "aefarm-scripts.jsx")
