"""The afterfx script runner against hostile scripts: endless loops, floods of output, odd throws.

The runner is the simulator's After Effects stand-in, which runs scripts with Node.js. A run
that times out or is cancelled must leave no process behind, and what a script prints or
throws must not grow the agent's log or the job's error without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from agent.errors import MAX_MESSAGE_CHARS, LeaseFailure
from agent.extendscript import (
    MAX_ERROR_CHARS,
    MAX_LOGGED_OUTPUT,
    ScriptRun,
    run_with_afterfx,
    write_wrapper,
)
from agent.input_options import SIMULATED_AFTERFX
from tests.unit.test_script_host_support import build_scene, needs_node
from tests.unit.test_simulator_support import REPO

LOOP = "$.writeln('started');\nwhile (true) {}\n"


def wrapper_for(folder: Path, script: str) -> tuple[Path, Path]:
    project = build_scene(folder / "project.aep")
    user = folder / "scripts" / "user.jsx"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(script, encoding="utf-8")
    return write_wrapper(folder, project=project, scripts=[ScriptRun(user)])


def processes_naming(path: Path) -> list[psutil.Process]:
    """Return live processes whose command line names path: the stand-in and its Node.js."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(path) in cmdline and process.pid != psutil.Process().pid:
            found.append(process)
    return found


def run(wrapper: Path, result: Path, timeout: float = 60) -> None:
    asyncio.run(run_with_afterfx(SIMULATED_AFTERFX, wrapper, result, timeout=timeout))


@needs_node
@pytest.mark.skipif(sys.platform != "linux", reason="the reaper check needs Linux prctl")
def test_timeout_stops_runner_and_node(tmp_path: Path) -> None:
    wrapper, result = wrapper_for(tmp_path, LOOP)
    # A child process that reaps orphans, as the agent does, so a Node.js left behind shows
    # up as its child: running, or a zombie that was never reaped.
    program = textwrap.dedent(
        f"""
        import asyncio, json, psutil
        from pathlib import Path
        from agent.errors import LeaseFailure
        from agent.extendscript import run_with_afterfx
        from agent.input_options import SIMULATED_AFTERFX
        from agent.proctree import become_subreaper

        assert become_subreaper()
        try:
            asyncio.run(run_with_afterfx(
                SIMULATED_AFTERFX, Path({str(wrapper)!r}), Path({str(result)!r}), timeout=3))
        except LeaseFailure as failure:
            print(json.dumps([failure.code, failure.message]))
        print(json.dumps([child.status() for child in psutil.Process().children()]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    lines = done.stdout.splitlines()

    assert len(lines) == 2, done.stdout + done.stderr
    code, message = json.loads(lines[0])
    assert code == "script_failed"
    assert "did not finish within 3 s (--script-timeout)" in message
    assert json.loads(lines[1]) == []
    assert processes_naming(wrapper) == []


@needs_node
def test_cancelled_run_stops_runner_and_node(tmp_path: Path) -> None:
    wrapper, result = wrapper_for(tmp_path, LOOP)

    async def cancel_while_looping() -> None:
        task = asyncio.create_task(run_with_afterfx(SIMULATED_AFTERFX, wrapper, result, 600))
        deadline = time.monotonic() + 60
        # The stand-in and its Node.js both name the wrapper.
        while len(processes_naming(wrapper)) < 2:
            assert time.monotonic() < deadline, "the script never started"
            await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_looping())

    assert processes_naming(wrapper) == []


@needs_node
def test_flood_of_output_is_cut_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = "var line = new Array(1024).join('x');\n"
    script += "for (var i = 0; i < 2048; i++) $.writeln(line);\n"
    wrapper, result = wrapper_for(tmp_path, script)

    with caplog.at_level(logging.INFO, logger="agent.extendscript"):
        run(wrapper, result)

    logged = sum(len(record.getMessage()) for record in caplog.records)
    assert logged < 2 * MAX_LOGGED_OUTPUT
    assert any("which are not logged" in record.getMessage() for record in caplog.records)


@needs_node
def test_throw_without_text_still_fails_cleanly(tmp_path: Path) -> None:
    script = "throw {toString: function () { throw new Error('inner'); }};\n"
    wrapper, result = wrapper_for(tmp_path, script)

    with pytest.raises(LeaseFailure) as caught:
        run(wrapper, result)

    assert caught.value.code == "script_error"
    assert "cannot be converted to text" in caught.value.message


@needs_node
def test_long_script_error_is_cut(tmp_path: Path) -> None:
    wrapper, result = wrapper_for(tmp_path, "throw new Error(new Array(100000).join('e'));\n")

    with pytest.raises(LeaseFailure) as caught:
        run(wrapper, result)

    assert len(caught.value.message) < MAX_ERROR_CHARS + 100
    assert caught.value.message.endswith("more characters)")


@needs_node
def test_call_system_is_named_as_not_modelled(tmp_path: Path) -> None:
    wrapper, result = wrapper_for(tmp_path, "system.callSystem('id');\n")

    with pytest.raises(LeaseFailure) as caught:
        run(wrapper, result)

    assert "system.callSystem is not supported by the aerender simulator" in caught.value.message


def test_job_error_message_is_cut() -> None:
    failure = LeaseFailure("layer_not_found", "layer " + "L" * 5 * MAX_MESSAGE_CHARS)

    message = failure.to_proto().message

    assert len(message) < MAX_MESSAGE_CHARS + 100
    assert message.startswith("layer LLL")


@needs_node
def test_script_including_itself_overflows_the_stack(tmp_path: Path) -> None:
    wrapper, result = wrapper_for(tmp_path, "#include 'user.jsx'\n")

    with pytest.raises(LeaseFailure) as caught:
        run(wrapper, result)

    assert "Maximum call stack size exceeded" in caught.value.message
