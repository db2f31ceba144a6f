"""ExtendScript for `script` assets: the generated wrapper, and the runners that execute it.

The agent never splices a value into script text. It writes one wrapper per lease whose only
variable part is a single JSON literal holding every path, layer name, keyword and parameter;
`json.dumps(..., ensure_ascii=True)` escapes quotes, backslashes, newlines, U+2028 and every
non-ASCII character, so no value can end the literal or inject code. The wrapper:

1. suppresses dialogs, and opens the project when the runner needs that;
2. replaces footage it is given (import, then `layer.replaceSource`);
3. for each user script, sets `$.global[keyword]` to the keyword object (the parameters, plus
   `get(key)`) and evaluates the script with `$.evalFile`;
4. saves the project when the runner needs that, and writes a result file, JSON
   `{"ok": true|false, "error": "..."}`, which the agent reads.

Runners (`--script-runner`):
- `afterfx`: After Effects itself runs the wrapper, `AfterFX.exe -r wrapper.jsx` on Windows or
  `osascript -e 'tell application "Adobe After Effects 2026" to DoScriptFile "..."'` on macOS,
  before the render. The wrapper opens the project, saves it, and the agent renders the saved
  project.
- `patched-aerender`: aerender runs the wrapper itself through `-r wrapper.jsx`, which only
  an aerender whose commandLineRenderer.jsx was patched (as nexrender does) understands. The
  project is already open then; the wrapper neither opens nor saves it.

The aerender simulator runs `-r` scripts, and `python -m agent.simulator.afterfx` replaces
AfterFX, both with Node.js (agent/simulator/script_host.py), so either runner works with
`--simulate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import proctree
from agent.errors import LeaseFailure

logger = logging.getLogger(__name__)

RUNNERS = ("afterfx", "patched-aerender")
# The After Effects program: a path or macOS application name, or a whole command to which
# `-r wrapper.jsx` is appended (the simulator's stand-in).
AfterFxProgram = str | tuple[str, ...]
DEFAULT_SCRIPT_TIMEOUT = 600.0
WRAPPER_NAME = "aefarm-scripts.jsx"
RESULT_NAME = "aefarm-scripts.result.json"
# Characters of a script's error text that go into the job's error. The text is the script's
# own, and the job's error travels in every listing of the job.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class ScriptRun:
    """One user script and the keyword object it sees."""

    path: Path
    keyword: str = "NX"
    parameters: dict[str, Any] | None = None


@dataclass(frozen=True)
class FootageReplacement:
    path: str
    layer_name: str = ""
    layer_index: int = 0
    # Empty means every composition that has the layer; "outer->inner" names the inner one.
    composition: str = ""
    sequence: bool = False


def script_runs_from_json(path: Path, keyword: str, parameters_json: str) -> ScriptRun:
    try:
        parameters = json.loads(parameters_json) if parameters_json else {}
    except ValueError as error:
        raise LeaseFailure(
            "script_failed", f"the parameters of script {path.name} are not JSON: {error}"
        ) from error
    if not isinstance(parameters, dict):
        raise LeaseFailure(
            "script_failed", f"the parameters of script {path.name} must be a JSON object"
        )
    return ScriptRun(path, keyword or "NX", parameters)


def write_script_code(folder: Path, name: str, code: str) -> Path:
    """Write the ExtendScript source of a function asset to folder/name, as UTF-8."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(code, encoding="utf-8")
    return path


_BODY = r"""
(function (settings) {
  function quote(text) {
    text = String(text);
    var out = '"';
    for (var i = 0; i < text.length; i++) {
      var c = text.charAt(i);
      var code = text.charCodeAt(i);
      if (c === '"' || c === '\\') {
        out += '\\' + c;
      } else if (code < 32 || code > 126) {
        var hex = code.toString(16);
        while (hex.length < 4) { hex = '0' + hex; }
        out += '\\u' + hex;
      } else {
        out += c;
      }
    }
    return out + '"';
  }
  function report(ok, message) {
    var file = new File(settings.resultFile);
    file.encoding = 'UTF-8';
    if (file.open('w')) {
      file.write('{"ok": ' + (ok ? 'true' : 'false') + ', "error": ' + quote(message) + '}');
      file.close();
    }
  }
  function compositions(name) {
    var wanted = name.split('->');
    wanted = wanted[wanted.length - 1];
    var found = [];
    for (var i = 1; i <= app.project.numItems; i++) {
      var item = app.project.item(i);
      if (item instanceof CompItem && (wanted === '' || item.name === wanted)) {
        found.push(item);
      }
    }
    return found;
  }
  function replaceFootage(entry) {
    var options = new ImportOptions(new File(entry.path));
    if (entry.sequence) { options.sequence = true; }
    var source = app.project.importFile(options);
    var comps = compositions(entry.composition);
    var replaced = 0;
    for (var i = 0; i < comps.length; i++) {
      var layer = null;
      if (entry.layerName !== '') {
        layer = comps[i].layers.byName(entry.layerName);
      } else if (entry.layerIndex >= 1 && entry.layerIndex <= comps[i].numLayers) {
        layer = comps[i].layer(entry.layerIndex);
      }
      if (layer) {
        layer.replaceSource(source, false);
        replaced += 1;
      }
    }
    if (replaced === 0) {
      throw new Error('no layer ' + quote(entry.layerName || String(entry.layerIndex)) +
        ' in composition ' + quote(entry.composition || '(any)'));
    }
  }
  function keywordObject(parameters) {
    var object = {};
    for (var key in parameters) {
      if (parameters.hasOwnProperty(key)) { object[key] = parameters[key]; }
    }
    object.get = function (key) { return parameters[key]; };
    return object;
  }
  app.beginSuppressDialogs();
  try {
    if (settings.openProject) { app.open(new File(settings.project)); }
    for (var f = 0; f < settings.footage.length; f++) { replaceFootage(settings.footage[f]); }
    for (var s = 0; s < settings.scripts.length; s++) {
      var run = settings.scripts[s];
      $.global[run.keyword] = keywordObject(run.parameters);
      $.evalFile(new File(run.path));
    }
    if (settings.saveProject) { app.project.save(new File(settings.project)); }
    report(true, '');
  } catch (error) {
    var text, where = '';
    try {
      text = String(error);
      if (error && error.line) {
        var file = error.fileName ? String(error.fileName).split(/[\\\/]/).pop() : '';
        where = ' (line ' + error.line + (file ? ' of ' + file : '') + ')';
      }
    } catch (unreadable) {
      // A thrown object whose toString throws still fails the run with a message.
      text = 'a script threw a value that cannot be converted to text';
    }
    report(false, text + where);
  } finally {
    app.endSuppressDialogs(false);
  }
})
"""


def wrapper_source(
    *,
    project: Path | str,
    result_file: Path | str,
    scripts: Sequence[ScriptRun],
    footage: Sequence[FootageReplacement] = (),
    open_and_save: bool = True,
) -> str:
    """Return the wrapper's text; see the module text for what it does."""
    settings = {
        "project": str(project),
        "resultFile": str(result_file),
        "openProject": open_and_save,
        "saveProject": open_and_save,
        "footage": [
            {
                "path": entry.path,
                "layerName": entry.layer_name,
                "layerIndex": entry.layer_index,
                "composition": entry.composition,
                "sequence": entry.sequence,
            }
            for entry in footage
        ],
        "scripts": [
            {"path": str(run.path), "keyword": run.keyword, "parameters": run.parameters or {}}
            for run in scripts
        ],
    }
    literal = json.dumps(settings, ensure_ascii=True, indent=1)
    return (
        "// Generated by aefarm: every value is in the JSON literal below.\n"
        + _BODY.strip()
        + "("
        + literal
        + ");\n"
    )


def write_wrapper(directory: Path, **options: Any) -> tuple[Path, Path]:
    """Write the wrapper into directory; return its path and the result file's path."""
    wrapper = directory / WRAPPER_NAME
    result = directory / RESULT_NAME
    with contextlib.suppress(FileNotFoundError):
        result.unlink()
    wrapper.write_text(wrapper_source(result_file=result, **options), encoding="utf-8")
    return wrapper, result


def read_result(result: Path, runner: str) -> None:
    """Raise LeaseFailure unless the wrapper reported success in result.

    The code is script_error when a script threw (the job's fault) and script_failed when the
    runner left no readable result (the runner's or the agent's fault).
    """
    try:
        outcome = json.loads(result.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeaseFailure(
            "script_failed",
            f"the script runner {runner} did not run the scripts: {result} was never written. "
            + _not_run_hint(runner),
        ) from None
    except ValueError as error:
        raise LeaseFailure(
            "script_failed", f"the script result {result} is not JSON: {error}"
        ) from error
    if not outcome.get("ok"):
        text = str(outcome.get("error", ""))
        if len(text) > MAX_ERROR_CHARS:
            text = f"{text[:MAX_ERROR_CHARS]}... ({len(text) - MAX_ERROR_CHARS} more characters)"
        # The job's own script threw: it fails the same on every agent.
        raise LeaseFailure("script_error", f"a script failed: {text}")


def _not_run_hint(runner: str) -> str:
    if runner == "patched-aerender":
        return (
            "aerender runs -r scripts only when its commandLineRenderer.jsx is patched "
            "(see docs/assets.md), and the simulator runs them only when it finds Node.js"
        )
    return "check that After Effects is running as this agent's user and can run scripts"


def afterfx_command(program: AfterFxProgram, wrapper: Path) -> list[str]:
    """Return the command that makes After Effects run wrapper.

    On macOS program is the application name, such as `Adobe After Effects 2026`, and the
    script path travels inside an AppleScript string with its quotes and backslashes escaped.
    A tuple is a whole command on every platform.
    """
    if isinstance(program, tuple):
        return [*program, "-r", str(wrapper)]
    if sys.platform == "darwin" and not program.endswith(("osascript",)):
        path = str(wrapper).replace("\\", "\\\\").replace('"', '\\"')
        name = program.replace("\\", "\\\\").replace('"', '\\"')
        return ["osascript", "-e", f'tell application "{name}" to DoScriptFile "{path}"']
    return [program, "-r", str(wrapper)]


async def run_with_afterfx(
    program: AfterFxProgram, wrapper: Path, result: Path, timeout: float = DEFAULT_SCRIPT_TIMEOUT
) -> None:
    """Run wrapper in After Effects and wait for its result file.

    The runner starts as the root of its own process tree. On a timeout, and when the lease is
    cancelled, the whole tree is stopped, so no process of it (such as the simulator's
    Node.js) keeps running.
    """
    command = afterfx_command(program, wrapper)
    logger.info("running the scripts with %s", command[0])
    token = proctree.new_tree_token()
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=proctree.spawn_env(os.environ, token),
            **proctree.spawn_options(),
        )
    except OSError as error:
        raise LeaseFailure(
            "script_runner_missing",
            f"cannot start the script runner {command[0]}: {error}; set --afterfx to the "
            "AfterFX program",
        ) from error
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    output = _OutputTail()
    try:
        assert process.stdout is not None
        await asyncio.wait_for(_finish(process, process.stdout, output), timeout)
    except TimeoutError:
        await _stop_tree(process, token)
        output.log()
        raise LeaseFailure(
            "script_failed",
            f"the scripts did not finish within {timeout:g} s (--script-timeout) and were "
            "stopped; check them for an endless loop or a dialog that waits for input",
        ) from None
    except asyncio.CancelledError:
        # Shielded, so a second cancellation cannot leave the runner's processes running.
        await asyncio.shield(_stop_tree(process, token))
        raise
    output.log()
    # AfterFX -r may hand the script to a running instance and exit before it finishes.
    while not result.exists() and loop.time() < deadline:
        await asyncio.sleep(0.2)
    read_result(result, "afterfx")


# Bytes of the script runner's output kept for the agent's log: the last ones, which contain
# the runner's error, if any. A script that prints more cannot fill the log.
MAX_LOGGED_OUTPUT = 64 * 1024
_READ_SIZE = 64 * 1024


class _OutputTail:
    """The last MAX_LOGGED_OUTPUT bytes of the runner's output, and the count of the others."""

    def __init__(self) -> None:
        self.kept = b""
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.kept += chunk
        if len(self.kept) > MAX_LOGGED_OUTPUT:
            self.dropped += len(self.kept) - MAX_LOGGED_OUTPUT
            self.kept = self.kept[-MAX_LOGGED_OUTPUT:]

    def log(self) -> None:
        if self.dropped:
            logger.warning(
                "the script runner printed %d bytes more than the last %d, which are not logged",
                self.dropped,
                MAX_LOGGED_OUTPUT,
            )
        text = self.kept.decode("utf-8", "replace").strip()
        if text:
            logger.info("script runner output: %s", text)


async def _finish(
    process: asyncio.subprocess.Process, stdout: asyncio.StreamReader, output: _OutputTail
) -> None:
    while chunk := await stdout.read(_READ_SIZE):
        output.add(chunk)
    await process.wait()


async def _stop_tree(process: asyncio.subprocess.Process, token: str) -> None:
    signalled = await proctree.terminate_tree(process.pid, token, grace_seconds=2.0)
    logger.warning("stopped the script runner pid %d and its processes %s", process.pid, signalled)
    # terminate_tree leaves the root to asyncio, which reaps it here.
    await process.wait()


@dataclass(frozen=True)
class PendingScripts:
    """A wrapper that aerender runs with -r during the render; its result is read after."""

    wrapper: Path
    result: Path


def check_render_stop(pending: PendingScripts, stopped_reason: str | None, elapsed: float) -> None:
    """Fail as script_failed when the agent stopped aerender before its -r scripts reported.

    aerender runs the wrapper before the render, so a render stopped for silence or length
    while the result file is missing was most likely stopped in a script.
    """
    if pending.result.exists():
        return
    if stopped_reason == "hang":
        why = "printed nothing and wrote no output for too long"
    elif stopped_reason == "max_render_time":
        why = "ran past the job's settings.maxRenderTime"
    else:
        return
    raise LeaseFailure(
        "script_failed",
        f"aerender {why} and was stopped after {elapsed:.0f} s, before the job's scripts, which "
        "it runs with -r ahead of the render, reported a result; check them for an endless "
        "loop or a dialog that waits for input",
    )


async def run_scripts(
    runner: str,
    afterfx: AfterFxProgram,
    timeout: float,
    scripts: Sequence[ScriptRun],
    project: Path,
    workspace: Path,
    *,
    render_follows: bool,
) -> PendingScripts | None:
    """Run the lease's scripts on project, or return what the render must run them with.

    Raises LeaseFailure(script_runner_missing) when this agent has no runner that can.
    """
    if not scripts:
        return None
    names = ", ".join(run.path.name for run in scripts)
    if not runner:
        raise LeaseFailure(
            "script_runner_missing",
            f"the job has script assets ({names}) and this agent has no --script-runner; start "
            "the agent with --script-runner afterfx --afterfx PROGRAM, or --script-runner "
            "patched-aerender when its aerender is patched",
        )
    if runner == "patched-aerender":
        if not render_follows:
            raise LeaseFailure(
                "script_runner_missing",
                f"the scripts ({names}) of a job that returns the project (type aep) need "
                "--script-runner afterfx; patched-aerender runs scripts only during a render",
            )
        wrapper, result = write_wrapper(
            workspace, project=project, scripts=scripts, open_and_save=False
        )
        return PendingScripts(wrapper, result)
    wrapper, result = write_wrapper(workspace, project=project, scripts=scripts)
    await run_with_afterfx(afterfx, wrapper, result, timeout)
    return None
