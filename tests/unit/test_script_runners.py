"""aefarm's script wrapper through the simulator (-r) and the After Effects stand-in (-r).

Both run the wrapper that agent/extendscript.py writes, with hostile parameter values, and
the project changes must be in the project that is rendered or saved.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import py_aep
import pytest

from agent.extendscript import ScriptRun, run_with_afterfx, write_wrapper
from agent.input_options import SIMULATED_AFTERFX
from agent.main import build_parser, config_from_args
from agent.simulator.script_host import NODE_ENV, ScriptHostError, find_node
from tests.unit.test_script_host_support import (
    HOSTILE_VALUES,
    build_scene,
    comp_named,
    layer_named,
    needs_node,
)
from tests.unit.test_simulator_support import (
    REPO,
    decode_frame,
    is_close,
    log_lines,
    pixel,
    run_simulator,
    simulator_env,
)

# A user script that writes every parameter into a layer comment, as JSON.
RECORDING_SCRIPT = """
var main = null;
for (var i = 1; i <= app.project.numItems; i++) {
  if (app.project.item(i).name === 'Main') { main = app.project.item(i); }
}
var values = [];
for (var k = 0; k < NX.get('count'); k++) { values.push(NX.get('value' + k)); }
main.layer('Slot').comment = JSON.stringify(values);
main.layer('Title').sourceText.setValue(NX.get('value0'));
main.layer('Mover').position.setValue([100, 80]);
"""


def parameters() -> dict[str, object]:
    values: dict[str, object] = {
        f"value{index}": value for index, value in enumerate(HOSTILE_VALUES)
    }
    return values | {"count": len(HOSTILE_VALUES)}


def user_script(folder: Path, text: str = RECORDING_SCRIPT) -> Path:
    path = folder / "scripts" / "brand 'x'.jsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def check_recorded(project_path: Path) -> None:
    main = comp_named(py_aep.parse(project_path).project, "Main")
    assert json.loads(layer_named(main, "Slot").comment) == HOSTILE_VALUES
    assert layer_named(main, "Mover").transform.position.value[:2] == [100.0, 80.0]


@needs_node
def test_wrapper_runs_inside_simulated_render(tmp_path: Path) -> None:
    project = build_scene(tmp_path / "project.aep")
    run = ScriptRun(user_script(tmp_path), "NX", parameters())
    wrapper, result = write_wrapper(tmp_path, project=project, scripts=[run], open_and_save=False)
    output = tmp_path / "out.mp4"
    rendered = run_simulator(
        "-project", project, "-comp", "Main", "-output", output, "-s", "0", "-e", "1",
        "-r", wrapper,
    )  # fmt: skip

    assert rendered.returncode == 0, rendered.stdout
    assert json.loads(result.read_text(encoding="utf-8")) == {"ok": True, "error": ""}
    frame = decode_frame(output, 0)
    assert is_close(pixel(frame, 100, 80), (255, 255, 255)), "Mover at its new position"
    assert is_close(pixel(frame, 100, 45), (0, 0, 255)), "Mover left its old position"
    # -close DO_NOT_SAVE_CHANGES: the render saw the changes, the file on disk keeps none.
    main = comp_named(py_aep.parse(project).project, "Main")
    assert layer_named(main, "Slot").comment == ""


@needs_node
def test_wrapper_reports_a_failing_script(tmp_path: Path) -> None:
    project = build_scene(tmp_path / "project.aep")
    script = user_script(tmp_path, "var x = 1;\nthrow new Error(NX.get('why'));\n")
    run = ScriptRun(script, "NX", {"why": HOSTILE_VALUES[1]})
    wrapper, result = write_wrapper(tmp_path, project=project, scripts=[run], open_and_save=False)
    rendered = run_simulator(
        "-project", project, "-comp", "Main", "-output", tmp_path / "out.mp4",
        "-s", "0", "-e", "1", "-r", wrapper,
    )  # fmt: skip
    outcome = json.loads(result.read_text(encoding="utf-8"))

    # The wrapper catches the error and reports it; the agent then fails the lease.
    assert rendered.returncode == 0
    assert outcome["ok"] is False
    assert outcome["error"] == f"Error: {HOSTILE_VALUES[1]} (line 2 of {script.name})"


@needs_node
def test_uncaught_script_error_exits_5(tmp_path: Path) -> None:
    project = build_scene(tmp_path / "project.aep")
    script = user_script(tmp_path, "\nthrow new Error('nexrender: no layer \"Title 2\"');\n")
    rendered = run_simulator(
        "-project", project, "-comp", "Main", "-output", tmp_path / "out.mp4", "-r", script,
    )  # fmt: skip
    errors = [line for line in log_lines(rendered) if line.startswith("aerender ERROR:")]

    assert rendered.returncode == 5
    assert errors == [
        f"aerender ERROR: Error executing script {script}: "
        f'Error: nexrender: no layer "Title 2" (line 2 of {script})'
    ]
    assert not (tmp_path / "out.mp4").exists()


@needs_node
def test_afterfx_stand_in_saves_the_project(tmp_path: Path) -> None:
    project = build_scene(tmp_path / "project.aep")
    run = ScriptRun(user_script(tmp_path), "NX", parameters())
    wrapper, result = write_wrapper(tmp_path, project=project, scripts=[run])
    done = subprocess.run(
        [*SIMULATED_AFTERFX, "-r", str(wrapper)],
        capture_output=True,
        env=simulator_env(),
        cwd=REPO,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout
    assert json.loads(result.read_text(encoding="utf-8")) == {"ok": True, "error": ""}
    check_recorded(project)


@needs_node
def test_agent_afterfx_runner_uses_stand_in(tmp_path: Path) -> None:
    project = build_scene(tmp_path / "project.aep")
    run = ScriptRun(user_script(tmp_path), "NX", parameters())
    wrapper, result = write_wrapper(tmp_path, project=project, scripts=[run])
    asyncio.run(run_with_afterfx(SIMULATED_AFTERFX, wrapper, result, timeout=60))

    check_recorded(project)


def test_afterfx_stand_in_rejects_bad_arguments() -> None:
    usage = subprocess.run(
        [*SIMULATED_AFTERFX, "-x"], capture_output=True, env=simulator_env(), cwd=REPO, check=False
    )

    assert usage.returncode == 2
    assert b"usage:" in usage.stderr


@needs_node
def test_afterfx_stand_in_reports_a_throw(tmp_path: Path) -> None:
    script = tmp_path / "throws.jsx"
    script.write_text("throw new Error('stand-in failure');\n", encoding="utf-8")
    failed = subprocess.run(
        [*SIMULATED_AFTERFX, "-noui", "-r", str(script)],
        capture_output=True,
        env=simulator_env(),
        cwd=REPO,
        check=False,
    )

    assert failed.returncode == 1
    assert b"After Effects error: Error: stand-in failure (line 1 of " in failed.stdout


def test_missing_node_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NODE_ENV, str(tmp_path / "no-node"))
    with pytest.raises(ScriptHostError) as configured:
        find_node()
    assert NODE_ENV in str(configured.value)

    monkeypatch.delenv(NODE_ENV)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ScriptHostError) as searched:
        find_node()
    assert "no node program is on PATH" in str(searched.value)


def test_simulator_without_node_exits_5(tmp_path: Path) -> None:
    project = build_scene(tmp_path / "project.aep")
    script = user_script(tmp_path, "$.writeln('never');\n")
    env = simulator_env() | {NODE_ENV: str(tmp_path / "no-node")}
    done = subprocess.run(
        [sys.executable, "-m", "agent.simulator", "-project", str(project), "-comp", "Main",
         "-output", str(tmp_path / "out.mp4"), "-r", str(script)],
        capture_output=True, env=env, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    errors = [line for line in done.stdout.decode().splitlines() if "ERROR" in line]

    assert done.returncode == 5
    assert len(errors) == 1
    assert errors[0].startswith(f"aerender ERROR: Error executing script {script}: ")
    assert NODE_ENV in errors[0]


def test_simulate_picks_working_runners(tmp_path: Path) -> None:
    base = ["--controller", "127.0.0.1:1", "--work-dir", str(tmp_path)]
    parser = build_parser()
    simulated = config_from_args(parser.parse_args([*base, "--simulate"]))
    stand_in = config_from_args(
        parser.parse_args([*base, "--simulate", "--script-runner", "afterfx"])
    )
    chosen = config_from_args(
        parser.parse_args([*base, "--simulate", "--script-runner", "afterfx", "--afterfx", "AE"])
    )
    real = config_from_args(parser.parse_args(base))

    assert simulated.inputs.script_runner == "patched-aerender"
    assert stand_in.inputs.script_runner == "afterfx"
    assert stand_in.inputs.afterfx == SIMULATED_AFTERFX
    assert chosen.inputs.afterfx == "AE"
    assert real.inputs.script_runner == ""
    with pytest.raises(SystemExit):
        config_from_args(parser.parse_args([*base, "--script-runner", "afterfx"]))
    assert os.path.basename(SIMULATED_AFTERFX[0]).startswith("python")


@needs_node
@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signals are Linux only")
def test_killed_stand_in_leaves_no_node(tmp_path: Path) -> None:
    script = tmp_path / "forever.jsx"
    script.write_text("$.writeln('started');\nwhile (true) {}\n", encoding="utf-8")
    stand_in = subprocess.Popen(
        [*SIMULATED_AFTERFX, "-r", str(script)],
        stdout=subprocess.PIPE,
        env=simulator_env(),
        cwd=REPO,
    )
    try:
        assert stand_in.stdout is not None
        assert stand_in.stdout.readline() == b"started\n"
        (node,) = psutil.Process(stand_in.pid).children()
        stand_in.kill()
        stand_in.wait()
        # Linux delivers SIGKILL to Node.js when its parent dies.
        node.wait(timeout=30)
    finally:
        stand_in.kill()
        stand_in.wait()
    assert not node.is_running()
